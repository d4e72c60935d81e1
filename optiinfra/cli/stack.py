"""The commands that run OptiInfra itself: `up`, `run`, `worker`, `api`, `setup-temporal`, `migrate`."""

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from optiinfra.cli.errors import BAD_INPUT, fail

if TYPE_CHECKING:
    from optiinfra.embedded.stack import RunningStack
    from optiinfra.settings import Settings


def _settings() -> "Settings":
    from optiinfra.settings import Settings

    return Settings()


def _observe(settings: "Settings", service: str, *, default_level: str = "INFO") -> None:
    """Logs on stderr (stdout stays the command's own output) and traces, for a command that runs the
    worker, the API or both."""
    from optiinfra.observability.logs import configure_logging
    from optiinfra.observability.tracing import configure_tracing

    configure_logging(settings, default_level=default_level)
    configure_tracing(settings, service)


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _announce(stack: "RunningStack", settings: "Settings") -> None:
    typer.echo(f"Temporal:    {stack.settings.temporal_address} (namespace {settings.temporal_namespace})")
    if stack.temporal_ui_url:
        typer.echo(f"Temporal UI: {stack.temporal_ui_url}")
    typer.echo(f"API:         {stack.api_url}  (OpenAPI at {stack.api_url}/docs)")
    if (settings.portal_dir / "index.html").is_file():
        typer.echo(f"Portal:      {stack.api_url}/  (sign in with the demo key below)")
    else:
        typer.echo(f"Portal:      not built ({settings.portal_dir}): run `make portal`")
    typer.echo(f"Metrics:     {stack.api_url}/metrics  (the API's, Prometheus text)")
    if stack.worker_metrics_url:
        typer.echo(f"             {stack.worker_metrics_url}  (the worker's: optiinfra_*, temporal_*)")
    typer.echo(f"API token:   {stack.api_token}  (platform admin)")
    if stack.demo_admin_key:
        typer.echo(f"Demo key:    {stack.demo_admin_key}  (admin of customer demo)")
    if stack.settings.aws_endpoint_url:
        typer.echo(f"Twin cloud:  {stack.settings.aws_endpoint_url} (moto, demo fleet seeded)")
    if stack.settings.kube_api_url:
        typer.echo(f"Kubernetes:  {stack.settings.kube_api_url}")
    typer.echo("Ready. Ctrl-C stops everything.")


def up() -> None:
    """Start the stack and keep it up until Ctrl-C.

    The embedded Temporal dev server and twin cloud unless configured otherwise, then the worker and the
    API; prints their addresses and credentials."""
    from optiinfra.embedded.stack import running_stack
    from optiinfra.embedded.stack_file import StackInfo, clear_stack_info, write_stack_info
    from optiinfra.engine.devserver import DevServerError
    from optiinfra.observability.tracing import STACK_SERVICE

    settings = _settings()
    _observe(settings, STACK_SERVICE)

    async def serve() -> None:
        async with running_stack(settings, persistent=True) as stack:
            write_stack_info(
                settings.state_dir,
                StackInfo(
                    api_url=stack.api_url,
                    temporal_address=stack.settings.temporal_address,
                    temporal_ui_url=stack.temporal_ui_url,
                    cloud_endpoint_url=stack.settings.aws_endpoint_url or None,
                    pid=os.getpid(),
                ),
            )
            _announce(stack, settings)
            try:
                await _wait_for_stop_signal()
            finally:
                clear_stack_info(settings.state_dir)

    try:
        asyncio.run(serve())
    except DevServerError as error:
        raise fail(error) from error


def run(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for every workflow to settle", min=1)
    ] = 180.0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print the final report only: no progress on stderr")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result as JSON on stdout, and no progress (for scripts)"),
    ] = False,
) -> None:
    """One joint optimization of every workload of the fleet, with a report.

    Uses a running `optiinfra up` if there is one, otherwise starts a throwaway stack and stops it at the
    end. Progress goes to stderr as the run goes (a live display on a terminal, lines otherwise), the
    report to stdout; logs, on stderr, are warnings and errors only unless OPTIINFRA_LOG_LEVEL says
    otherwise."""
    import time

    from optiinfra.cli.progress import progress_on_stderr

    started = time.monotonic()
    progress = progress_on_stderr(show=not (quiet or as_json))
    with progress:
        progress.stage("Loading OptiInfra")
        from optiinfra.cli.api_client import ApiError
        from optiinfra.cli.report import render_report, run_result
        from optiinfra.cli.run_fleet import run_fleet
        from optiinfra.engine.devserver import DevServerError
        from optiinfra.observability.tracing import STACK_SERVICE

        settings = _settings()
        _observe(settings, STACK_SERVICE, default_level="WARNING")
        try:
            found = asyncio.run(run_fleet(settings, timeout_s=timeout, progress=progress))
        except (DevServerError, ApiError, TimeoutError) as error:
            raise fail(error) from error
        progress.finish(f"Done in {time.monotonic() - started:.0f} s.")
    if as_json:
        result = run_result(found.runs, persistent_stack=found.persistent, api_url=found.api_url)
        typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo(render_report(found.runs, persistent_stack=found.persistent, api_url=found.api_url))


def worker(
    kind: Annotated[
        str | None,
        typer.Option(
            help="Kinds of work to run, comma-separated: orchestration, cloud, analysis, llm, metrics, or "
            "all (default: OPTIINFRA_WORKER_KINDS, all)",
        ),
    ] = None,
) -> None:
    """Run a worker against the configured Temporal, store and cloud (production).

    Every kind of work in one process, or the kinds --kind names, each on its own task queue."""
    from optiinfra.observability.tracing import WORKER_SERVICE
    from workers.all_in_one import run_worker, worker_kinds

    settings = _settings()
    if kind is not None:
        settings = settings.model_copy(update={"worker_kinds": kind})
    try:
        worker_kinds(settings.worker_kinds)
    except ValueError as error:
        raise fail(error, BAD_INPUT) from error
    _observe(settings, WORKER_SERVICE)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))


def api() -> None:
    """Run the control-plane API against the configured Temporal and store (production)."""
    import uvicorn

    from api.app import create_app
    from optiinfra.observability.tracing import API_SERVICE

    settings = _settings()
    _observe(settings, API_SERVICE)
    # No log_config: uvicorn's own records (startup, access lines) go through the structured handler.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)


def setup_temporal() -> None:
    """Register the project's search attributes (OptiStatus, ...) in the configured namespace."""
    from optiinfra.engine.client import connect_temporal
    from optiinfra.engine.search_attributes import register_search_attributes

    settings = _settings()

    async def register() -> list[str]:
        client = await connect_temporal(settings)
        return await register_search_attributes(client, settings.temporal_namespace)

    added = asyncio.run(register())
    typer.echo(f"registered: {', '.join(added)}" if added else "all search attributes already registered")


def migrate() -> None:
    """Bring the configured database to the newest schema."""
    from optiinfra.store.database import migrate as run_migrations

    asyncio.run(run_migrations(_settings().effective_database_url))
