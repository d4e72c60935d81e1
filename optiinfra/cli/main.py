"""`optiinfra`: up, run, worker, api, migrate, setup-temporal, recommendations, schedule, keys, catalog,
bench, analyze."""

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from optiinfra.cli.analyze import analyze_app
from optiinfra.cli.api_client import ApiClient, ApiError
from optiinfra.cli.capacity import capacity_app, profile_from_file
from optiinfra.cli.keys import keys_app
from optiinfra.cli.report import render_report
from optiinfra.cli.run_once import optimize_fleet
from optiinfra.control.schedules import ScanScheduleView
from optiinfra.embedded.stack_file import StackInfo, clear_stack_info, read_stack_info, write_stack_info
from optiinfra.embedded.token import resolve_api_token
from optiinfra.settings import Settings

app = typer.Typer(
    help="OptiInfra: cheaper LLM inference fleets, without breaking their SLOs.", no_args_is_help=True
)
recommendations_app = typer.Typer(help="List, approve and reject recommendations.", no_args_is_help=True)
catalog_app = typer.Typer(help="The bundled GPU price catalog.", no_args_is_help=True)
app.add_typer(recommendations_app, name="recommendations")
app.add_typer(catalog_app, name="catalog")
bench_app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(analyze_app, name="analyze")
schedule_app = typer.Typer(
    help="Fleet-scan schedules: a joint optimization of every workload at cron times.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")
app.add_typer(capacity_app, name="capacity")
profile_app = typer.Typer(help="Measured capacity profiles of your own servers.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")
app.add_typer(keys_app, name="keys")


def _settings() -> Settings:
    return Settings()


def _observe(settings: Settings, service: str, *, default_level: str = "INFO") -> None:
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


@app.command()
def up() -> None:
    """Start the stack: the embedded Temporal dev server and twin cloud unless configured otherwise,
    then the worker and the API. Runs until Ctrl-C."""
    from optiinfra.embedded.stack import running_stack
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
            typer.echo(
                f"Temporal:    {stack.settings.temporal_address} (namespace {settings.temporal_namespace})"
            )
            if stack.temporal_ui_url:
                typer.echo(f"Temporal UI: {stack.temporal_ui_url}")
            typer.echo(f"API:         {stack.api_url}  (OpenAPI at {stack.api_url}/docs)")
            if (settings.portal_dir / "index.html").is_file():
                typer.echo(f"Portal:      {stack.api_url}/  (sign in with the demo key below)")
            else:
                typer.echo(f"Portal:      not built ({settings.portal_dir}): run `make portal`")
            typer.echo(f"Metrics:     {stack.api_url}/metrics  (the API's, Prometheus text)")
            if stack.worker_metrics_url:
                typer.echo(
                    f"             {stack.worker_metrics_url}  (the worker's: optiinfra_*, temporal_*)"
                )
            typer.echo(f"API token:   {stack.api_token}  (platform admin)")
            if stack.demo_admin_key:
                typer.echo(f"Demo key:    {stack.demo_admin_key}  (admin of customer demo)")
            if stack.settings.aws_endpoint_url:
                typer.echo(f"Twin cloud:  {stack.settings.aws_endpoint_url} (moto, demo fleet seeded)")
            if stack.settings.kube_api_url:
                typer.echo(f"Kubernetes:  {stack.settings.kube_api_url}")
            typer.echo("Ready. Ctrl-C stops everything.")
            try:
                await _wait_for_stop_signal()
            finally:
                clear_stack_info(settings.state_dir)

    try:
        asyncio.run(serve())
    except DevServerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error


@app.command()
def run(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every workflow to settle")] = 180.0,
) -> None:
    """One full optimization of the configured fleet, with a report. Uses a running `optiinfra up` if
    there is one, otherwise starts a throwaway stack and stops it at the end. The report is on stdout;
    logs, on stderr, are warnings and errors only unless OPTIINFRA_LOG_LEVEL says otherwise."""
    from optiinfra.observability.tracing import STACK_SERVICE

    settings = _settings()
    _observe(settings, STACK_SERVICE, default_level="WARNING")
    stack_info = read_stack_info(settings.state_dir)

    async def with_api(api_url: str, token: str, persistent: bool) -> str:
        async with ApiClient(api_url, token) as api:
            runs = await optimize_fleet(api, timeout_s=timeout)
        return render_report(runs, persistent_stack=persistent, api_url=api_url)

    async def throwaway() -> str:
        from optiinfra.embedded.stack import running_stack

        async with running_stack(settings, persistent=False) as stack:
            return await with_api(stack.api_url, stack.api_token, persistent=False)

    if stack_info is not None:
        report = asyncio.run(with_api(stack_info.api_url, resolve_api_token(settings), persistent=True))
    else:
        report = asyncio.run(throwaway())
    typer.echo(report)


@app.command()
def worker(
    kind: Annotated[
        str | None,
        typer.Option(
            help="Kinds of work to run, comma-separated: orchestration, cloud, analysis, llm, metrics, or "
            "all (default: OPTIINFRA_WORKER_KINDS, all)",
        ),
    ] = None,
) -> None:
    """Run a worker against the configured Temporal, store and cloud (production): every kind of work in
    one process, or the kinds --kind names, each on its own task queue."""
    from optiinfra.observability.tracing import WORKER_SERVICE
    from workers.all_in_one import run_worker, worker_kinds

    settings = _settings()
    if kind is not None:
        settings = settings.model_copy(update={"worker_kinds": kind})
    try:
        worker_kinds(settings.worker_kinds)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _observe(settings, WORKER_SERVICE)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))


@app.command()
def api() -> None:
    """Run the control-plane API against the configured Temporal and store (production)."""
    import uvicorn

    from api.app import create_app
    from optiinfra.observability.tracing import API_SERVICE

    settings = _settings()
    _observe(settings, API_SERVICE)
    # No log_config: uvicorn's own records (startup, access lines) go through the structured handler.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)


@app.command("setup-temporal")
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


@app.command()
def migrate() -> None:
    """Bring the configured database to the newest schema."""
    from optiinfra.store.database import migrate as run_migrations

    asyncio.run(run_migrations(_settings().effective_database_url))


def _api_target(settings: Settings) -> tuple[str, str]:
    info = read_stack_info(settings.state_dir)
    url = info.api_url if info else f"http://{settings.api_host}:{settings.api_port}"
    return url, resolve_api_token(settings)


@recommendations_app.command("list")
def list_recommendations(
    status: Annotated[str | None, typer.Option(help="e.g. pending_approval, executed")] = None,
) -> None:
    """List recommendations, newest first."""
    url, token = _api_target(_settings())

    async def fetch() -> None:
        async with ApiClient(url, token) as client:
            found = await client.list_recommendations(status)
        if not found:
            typer.echo("no recommendations")
        for rec in found:
            typer.echo(
                f"{rec.id}  {rec.status.value:<16} ${rec.estimated_monthly_savings_usd:>10,.0f}/month  "
                f"risk {rec.risk_level.value:<6} {rec.title}"
            )

    _run_api_call(fetch())


def _decide(recommendation_id: str, decision: str, reason: str, note: str | None) -> None:
    url, token = _api_target(_settings())

    async def send() -> None:
        async with ApiClient(url, token) as client:
            accepted = await client.decide(recommendation_id, decision, reason, note)
        typer.echo(f"{decision} sent to workflow {accepted.workflow_id}")

    _run_api_call(send())


def _run_api_call(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(coroutine)
    except ApiError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    except httpx.ConnectError as error:
        typer.echo("error: no API answers; start one with `optiinfra up`", err=True)
        raise typer.Exit(1) from error


Reason = Annotated[str, typer.Option(help="Why (recorded with the decision)")]
Approver = Annotated[
    str | None,
    typer.Option(help="A display note beside the decider, who is the key's or token's principal"),
]


@recommendations_app.command("approve")
def approve(recommendation_id: str, reason: Reason, approver: Approver = None) -> None:
    """Approve a waiting recommendation. One decision wins: a late or concurrent one is refused."""
    _decide(recommendation_id, "approve", reason, approver)


@recommendations_app.command("reject")
def reject(recommendation_id: str, reason: Reason, approver: Approver = None) -> None:
    """Reject a waiting recommendation; nothing executes."""
    _decide(recommendation_id, "reject", reason, approver)


ProfileFiles = Annotated[
    list[Path], typer.Argument(help="Result files of vllm bench serve, GuideLLM or inference-perf")
]
ProfileWorkload = Annotated[
    str | None, typer.Option(help="Only this workload (default: all on the GPU x model)")
]
ProfileGpu = Annotated[
    str | None, typer.Option(help='GPU it ran on ("H100", "L40S", ...) if the file does not say')
]
ProfilePrintOnly = Annotated[bool, typer.Option("--print", help="Print the profile as JSON; store nothing")]


@profile_app.command("import")
def profile_import(
    files: ProfileFiles,
    customer: Annotated[str, typer.Option(help="The customer the profile belongs to")] = "demo",
    workload: ProfileWorkload = None,
    gpu: ProfileGpu = None,
    model: Annotated[str | None, typer.Option(help="Hugging Face id if the file does not say")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel GPUs per replica", min=1, max=64)] = None,
    vllm_version: Annotated[str | None, typer.Option(help="vLLM version the servers ran")] = None,
    print_only: ProfilePrintOnly = False,
) -> None:
    """Store measured TTFT, TPOT and throughput against concurrency: where a profile covers a deployment and
    request shape, capacity answers come from it before NVIDIA's silicon reference and the roofline."""
    profiles = [
        profile_from_file(
            path,
            customer_id=customer,
            workload_id=workload,
            gpu=gpu,
            model=model,
            tp=tp,
            vllm_version=vllm_version,
        )
        for path in files
    ]
    if print_only:
        for profile in profiles:
            typer.echo(profile.model_dump_json())
        return
    url, token = _api_target(_settings())

    async def send() -> None:
        async with ApiClient(url, token) as client:
            for profile in profiles:
                profile_id = await client.import_capacity_profile(profile)
                low, high = profile.concurrency_range
                typer.echo(
                    f"stored {profile.source_file} as profile {profile_id}: {profile.model} on "
                    f"{profile.tp}x {profile.gpu}, {len(profile.points)} point(s), "
                    f"concurrency {low:g}-{high:g}"
                )

    _run_api_call(send())


def _echo_schedule(view: ScanScheduleView) -> None:
    state = "paused" if view.paused else "active"
    scope = view.customer_id or "all customers"
    upcoming = view.next_action_times[0].isoformat() if view.next_action_times and not view.paused else "-"
    typer.echo(
        f"{view.schedule_id:<24} {state:<7} {' | '.join(view.cron)} ({view.timezone})  {scope}  "
        f"agents {','.join(agent.value for agent in view.agents)}  next {upcoming}"
        + (f"  note: {view.note}" if view.note else "")
    )


@schedule_app.command("create")
def schedule_create(
    schedule_id: Annotated[str, typer.Argument(help="e.g. nightly (lowercase letters, digits, dashes)")],
    cron: Annotated[
        list[str],
        typer.Option(help="Cron expression, e.g. '0 2 * * *' (repeatable); 7 fields put seconds first"),
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone the cron times are read in")] = "UTC",
    customer: Annotated[str | None, typer.Option(help="Scan only this customer's workloads")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Agent to run (repeatable; default: all)")] = None,
    note: Annotated[str, typer.Option(help="A note kept with the schedule")] = "",
) -> None:
    """Create a fleet-scan schedule."""
    url, token = _api_target(_settings())
    body: dict[str, Any] = {"schedule_id": schedule_id, "cron": cron, "timezone": timezone, "note": note}
    if customer:
        body["customer_id"] = customer
    if agent:
        body["agents"] = agent

    async def send() -> None:
        async with ApiClient(url, token) as client:
            _echo_schedule(await client.create_schedule(body))

    _run_api_call(send())


@schedule_app.command("list")
def schedule_list() -> None:
    """List the fleet-scan schedules."""
    url, token = _api_target(_settings())

    async def fetch() -> None:
        async with ApiClient(url, token) as client:
            found = await client.list_schedules()
        if not found:
            typer.echo("no schedules")
        for view in found:
            _echo_schedule(view)

    _run_api_call(fetch())


Owner = Annotated[
    str | None, typer.Option("--customer", help="The customer whose schedule it is (none: a fleet-wide one)")
]


@schedule_app.command("show")
def schedule_show(schedule_id: str, customer: Owner = None) -> None:
    """One schedule, with the scans it started lately."""
    url, token = _api_target(_settings())

    async def fetch() -> None:
        async with ApiClient(url, token) as client:
            view = await client.get_schedule(schedule_id, customer)
        _echo_schedule(view)
        if view.pause_note:
            typer.echo(f"  {view.pause_note}")
        for scan in view.recent_runs:
            typer.echo(f"  scan of {scan.scheduled_at.isoformat()}: {scan.workflow_id}")

    _run_api_call(fetch())


def _set_paused(schedule_id: str, paused: bool, note: str, customer: str | None) -> None:
    url, token = _api_target(_settings())

    async def send() -> None:
        async with ApiClient(url, token) as client:
            _echo_schedule(await client.set_schedule_paused(schedule_id, paused, note, customer))

    _run_api_call(send())


@schedule_app.command("pause")
def schedule_pause(
    schedule_id: str,
    note: Annotated[str, typer.Option(help="Why (shown with the schedule)")] = "",
    customer: Owner = None,
) -> None:
    """Start no more scans until unpaused."""
    _set_paused(schedule_id, True, note, customer)


@schedule_app.command("unpause")
def schedule_unpause(
    schedule_id: str,
    note: Annotated[str, typer.Option(help="Why (shown with the schedule)")] = "",
    customer: Owner = None,
) -> None:
    """Start scans at the cron times again."""
    _set_paused(schedule_id, False, note, customer)


@schedule_app.command("delete")
def schedule_delete(schedule_id: str, customer: Owner = None) -> None:
    """Remove a schedule; scans it already started go on."""
    url, token = _api_target(_settings())

    async def send() -> None:
        async with ApiClient(url, token) as client:
            await client.delete_schedule(schedule_id, customer)
        typer.echo(f"deleted schedule {schedule_id}")

    _run_api_call(send())


@catalog_app.command("build")
def catalog_build(
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with ec2_pricing/ and aws_spot_advisor/")
    ] = None,
) -> None:
    """Rebuild the bundled catalog from the price snapshot and the Spot Advisor feed."""
    from optiinfra.catalog.build import main as build_main

    build_main(["--data-dir", str(data_dir or _settings().data_dir)])


@catalog_app.command("refresh")
def catalog_refresh(
    region: Annotated[list[str] | None, typer.Option(help="Region to refresh (repeatable)")] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write (default: the bundled file)")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile")] = None,
) -> None:
    """Rebuild prices from the live AWS Price List API and spot price history (needs AWS credentials);
    interruption buckets stay those of the Spot Advisor feed."""
    from optiinfra.catalog.refresh import main as refresh_main

    argv = [arg for r in region or [] for arg in ("--region", r)]
    argv += ["--output", str(output)] if output else []
    argv += ["--profile", profile] if profile else []
    refresh_main(argv)


@bench_app.command(
    "twin",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def bench_twin(context: typer.Context) -> None:
    """Replay the 14-day ServeGen trace through the twin and the metrics pipeline
    (options: --trace PATH --days N --scale X --json FILE --data-dir DIR; --help for all)."""
    from optiinfra.bench.twin import main as twin_main

    twin_main(list(context.args))


@bench_app.command(
    "plan",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def bench_plan(context: typer.Context) -> None:
    """Measure the Cost agent's plans against the optimal plan on twin fleets from real prices and traffic
    (options: --fleets N --seed S --json FILE --data-dir DIR --workers W; --help for all)."""
    from optiinfra.bench.plan import main as plan_main

    raise typer.Exit(plan_main(list(context.args)))


@bench_app.command(
    "scaling",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def bench_scaling(context: typer.Context) -> None:
    """Replay the 14-day ServeGen trace through the twin under static, KPA, predictive and oracle scaling
    (options: --trace PATH --json FILE --data-dir DIR --seed S --peak-replicas N --tick S; --help for all)."""
    from optiinfra.bench.scaling import main as scaling_main

    raise typer.Exit(scaling_main(list(context.args)))


@bench_app.command(
    "kvtier",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def bench_kvtier(context: typer.Context) -> None:
    """Replay the Mooncake trace through kvtier's eviction policies and Belady, and measure its index, lookup,
    host and disk tiers (options: --trace PATH --json FILE --data-dir DIR --fractions F,.. --policies P,..;
    --help for all)."""
    from optiinfra.bench.kvtier import main as kvtier_main

    raise typer.Exit(kvtier_main(list(context.args)))


@bench_app.command("peers")
def bench_peers(
    setup: Annotated[
        bool, typer.Option("--setup", help="Build (or rebuild, when a lock changed) the peers' environments")
    ] = False,
    peer: Annotated[
        list[str] | None, typer.Option(help="Only this peer (dynamo, aibrix); repeat for several")
    ] = None,
) -> None:
    """The benchmarks' peers, NVIDIA Dynamo's planner and AIBrix's GPU optimizer, each in its own locked
    environment under OPTIINFRA_PEER_ENVS_DIR (.venv-peers): their state and versions, or --setup to build
    them with uv."""
    from optiinfra.bench.peers.environment import PEERS, PeerEnvironmentError, setup_peer
    from optiinfra.bench.peers.process import PeerError, PeerProcess
    from optiinfra.settings import get_settings

    envs = get_settings().peer_envs_dir
    unknown = [name for name in peer or [] if name not in PEERS]
    if unknown:
        typer.echo(f"error: unknown peer {', '.join(unknown)} (peers: {', '.join(PEERS)})", err=True)
        raise typer.Exit(2)
    failed = False
    for chosen in [PEERS[name] for name in peer] if peer else PEERS.values():
        try:
            if setup:
                setup_peer(chosen, envs)
            with PeerProcess(chosen, envs) as process:
                versions = process.ask({"op": "version"})
            found = ", ".join(f"{name} {value}" for name, value in versions.items())
            typer.echo(f"{chosen.name}: ready at {envs / chosen.name} ({found}): {chosen.description}")
        except (PeerEnvironmentError, PeerError) as error:
            failed = True
            typer.echo(f"{chosen.name}: {error}", err=True)
    if failed:
        raise typer.Exit(1)


@bench_app.command(
    "capacity",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def bench_capacity(context: typer.Context) -> None:
    """The roofline prior and the served capacity answer against NVIDIA's silicon-measured reference, per
    GPU: median and worst error of TTFT, TPOT and throughput (options: --json FILE --tables-only)."""
    from optiinfra.bench.capacity import main as capacity_main

    capacity_main(list(context.args))


if __name__ == "__main__":
    app()
