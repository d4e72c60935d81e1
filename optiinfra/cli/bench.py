"""`optiinfra bench ...`: the benchmarks, each a command that prints measured figures (and writes them with
--json FILE). The computing lives in `optiinfra.bench`; a new benchmark registers itself on `bench_app`."""

import time
from pathlib import Path
from typing import Annotated

import typer

from optiinfra.cli.bench_options import (
    DataDir,
    JsonFile,
    NoPeers,
    Quiet,
    Seed,
    Truth,
    bench_failures,
    bench_progress,
    data_dir_or_configured,
    positive,
)
from optiinfra.cli.choices import TruthChoice
from optiinfra.cli.errors import BAD_INPUT, fail

bench_app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)

RequestTrace = Annotated[
    Path | None,
    typer.Option(
        help="Replay this trace instead: a ServeGen aggregate, or a Mooncake (JSON lines) or Azure (CSV) "
        "request trace; a Mooncake trace's hash_ids give the prefix hit rate"
    ),
]
Days = Annotated[float | None, typer.Option(help="Replay only the first N days", callback=positive)]


@bench_app.command("twin")
def twin(
    trace: RequestTrace = None,
    days: Days = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="Factor on the trace's request rate (default: 1/40 for ServeGen, 1 for request traces)",
            callback=positive,
        ),
    ] = None,
    requests_sample: Annotated[
        int | None,
        typer.Option(
            help="Requests per replica and window observed into the latency histograms (default 100)", min=0
        ),
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="chdb folder the metrics are written to (default: a temporary one)")
    ] = None,
    json_path: JsonFile = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """A real trace through the fleet twin and the metrics pipeline, timed, and its prefix hit rate.

    Replays the trace (default: ServeGen's 14 days, scaled 1/40) through the twin's replicas, their
    `/metrics` pages, the scraper and chdb. The unlimited-cache prefix hit rate is the trace's own when it
    has prefix blocks (a Mooncake trace's hash_ids), the bundled Mooncake trace's when no --trace is given,
    and absent (said so) for a trace without them."""
    import tempfile

    from optiinfra.bench.twin import BENCH_REQUESTS_SAMPLE, render, run_twin_bench

    started = time.perf_counter()
    with (
        bench_failures(),
        tempfile.TemporaryDirectory(prefix="optiinfra-twin-bench-") as scratch,
        bench_progress(quiet=quiet) as on_stage,
    ):
        result = run_twin_bench(
            data_dir_or_configured(data_dir),
            trace,
            json_path,
            store if store is not None else Path(scratch) / "chdb",
            days=days,
            scale=scale,
            requests_sample=BENCH_REQUESTS_SAMPLE if requests_sample is None else requests_sample,
            on_stage=on_stage,
        )
    typer.echo(render(result, time.perf_counter() - started))


@bench_app.command("plan")
def plan(
    fleets: Annotated[int, typer.Option(help="Twin fleets to build and plan", min=1)] = 24,
    seed: Seed = 7,
    workers: Annotated[int, typer.Option(help="Processes planning workloads side by side", min=1)] = 2,
    truth: Truth = TruthChoice.SILICON,
    no_peers: NoPeers = False,
    json_path: JsonFile = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """The live Cost agent's plans against the cheapest possible plan.

    Twin fleets built from real prices and traffic; the optimum is an integer program; both are replayed
    on a week neither has seen. Beside AIBrix's optimizer unless --no-peers."""
    from optiinfra.bench.plan import render, run_plan_bench
    from optiinfra.capacity.truth import TruthSource

    with bench_failures(), bench_progress(quiet=quiet) as on_stage:
        result = run_plan_bench(
            data_dir_or_configured(data_dir),
            fleets=fleets,
            seed=seed,
            json_path=json_path,
            workers=workers,
            truth=TruthSource(truth.value),
            peers=not no_peers,
            on_stage=on_stage,
        )
    typer.echo(render(result))


@bench_app.command("scaling")
def scaling(
    trace: Annotated[
        Path | None,
        typer.Option(
            help="A ServeGen aggregate rate file or one client's chunk-N-trace.csv (default: the aggregate)"
        ),
    ] = None,
    days: Days = None,
    seed: Seed = 7,
    peak_replicas: Annotated[int, typer.Option(help="Replicas the trace's peak needs", min=1)] = 32,
    tick: Annotated[
        float, typer.Option(help="Simulation step in seconds; must divide 60 and 180", callback=positive)
    ] = 15.0,
    burst_sigma: Annotated[
        float,
        typer.Option(help="Spread of the minute-scale bursts on the rate (0: Poisson arrivals only)", min=0),
    ] = 0.05,
    agent_scan: Annotated[
        float,
        typer.Option(
            help="Seconds between the live agent's scans (its own interval by default)", callback=positive
        ),
    ] = 3600.0,
    no_agent: Annotated[
        bool,
        typer.Option("--no-agent", help="Leave the live agent's Kubernetes autoscaler out (the slow part)"),
    ] = False,
    no_peers: NoPeers = False,
    dynamo_default_only: Annotated[
        bool,
        typer.Option("--dynamo-default-only", help="Run Dynamo's planner at its defaults only, no sweep"),
    ] = False,
    truth: Truth = TruthChoice.SILICON,
    json_path: JsonFile = None,
    data_dir: DataDir = None,
    quiet: Quiet = False,
) -> None:
    """Predictive SLO-aware scaling against reactive, static and oracle scaling.

    The same arrivals from ServeGen's 14 days under a swept reactive autoscaler (KPA), a static fleet, the
    predictive scaler and an oracle, beside Dynamo's planner unless --no-peers."""
    from optiinfra.bench.peers.dynamo_planner import DYNAMO_SWEEP
    from optiinfra.bench.scaling import render, run_scaling_bench
    from optiinfra.capacity.truth import TruthSource

    dynamo = () if no_peers else DYNAMO_SWEEP[:1] if dynamo_default_only else DYNAMO_SWEEP
    with bench_failures(), bench_progress(quiet=quiet) as on_stage:
        result = run_scaling_bench(
            data_dir_or_configured(data_dir),
            trace=trace,
            seed=seed,
            peak_replicas=peak_replicas,
            tick_s=tick,
            days=days,
            burst_sigma=burst_sigma,
            json_path=json_path,
            agent_scan_s=None if no_agent else agent_scan,
            truth=TruthSource(truth.value),
            dynamo=dynamo,
            on_stage=on_stage,
        )
    typer.echo(render(result))


@bench_app.command("kvtier")
def kvtier(
    trace: Annotated[
        Path | None,
        typer.Option(help="A trace in the Mooncake format (default: the bundled conversation trace)"),
    ] = None,
    fractions: Annotated[
        str,
        typer.Option(help="Cache capacities as fractions of the working set, comma-separated (a/b allowed)"),
    ] = "0.02,0.05,0.1,0.2,1/3,0.5,0.75,1",
    policies: Annotated[
        str, typer.Option(help="Eviction policies, comma-separated")
    ] = "lru,arc,s3fifo,lru+tinylfu",
    requests: Annotated[int | None, typer.Option(help="Replay only the first N requests", min=1)] = None,
    bandwidth_blocks: Annotated[int, typer.Option(help="Blocks moved per bandwidth pass", min=1)] = 128,
    block_kib: Annotated[int, typer.Option(help="Size of a bandwidth block in KiB", min=1)] = 2048,
    rounds: Annotated[int, typer.Option(help="Passes per bandwidth figure (the median is kept)", min=1)] = 5,
    scratch: Annotated[
        Path | None, typer.Option(help="Folder for the disk tier's files (default: a temporary one)")
    ] = None,
    json_path: JsonFile = None,
    data_dir: DataDir = None,
) -> None:
    """kvtier's eviction policies against Belady, and the speed of its index and tiers.

    Hit rates on a Mooncake trace at capacities that are fractions of its working set; index operations,
    prefix lookup, and the host and disk tiers against plain memory copies and file I/O."""
    from optiinfra.bench.kvtier import render, run_kvtier_bench
    from optiinfra.bench.options import parse_fractions, parse_names

    try:
        capacities, names = parse_fractions(fractions), parse_names(policies)
    except ValueError as error:
        raise fail(f"--fractions/--policies: {error}", BAD_INPUT) from error
    with bench_failures():
        result = run_kvtier_bench(
            data_dir_or_configured(data_dir),
            trace=trace,
            fractions=capacities,
            policies=names,
            requests=requests,
            block_bytes=block_kib * 1024,
            bandwidth_blocks=bandwidth_blocks,
            rounds=rounds,
            scratch=scratch,
            json_path=json_path,
        )
    typer.echo(render(result))


@bench_app.command("capacity")
def capacity(
    json_path: JsonFile = None,
    tables_only: Annotated[
        bool,
        typer.Option(
            "--tables-only",
            help="Compare against the shipped tables even when aiconfigurator-core is installed",
        ),
    ] = False,
) -> None:
    """The capacity layer's error against NVIDIA's silicon-measured reference.

    The roofline prior and the served capacity answer, per GPU: median and worst error of TTFT, TPOT and
    throughput."""
    from optiinfra.bench.capacity import main as capacity_main

    argv = ["--json", str(json_path)] if json_path is not None else []
    with bench_failures():
        capacity_main([*argv, "--tables-only"] if tables_only else argv)


@bench_app.command("peers")
def peers(
    setup: Annotated[
        bool, typer.Option("--setup", help="Build (or rebuild, when a lock changed) the peers' environments")
    ] = False,
    peer: Annotated[
        list[str] | None, typer.Option(help="Only this peer (dynamo, aibrix); repeat for several")
    ] = None,
) -> None:
    """The benchmarks' peers: their state and versions, or --setup to build them.

    NVIDIA Dynamo's planner and AIBrix's GPU optimizer, each in its own locked environment under
    OPTIINFRA_PEER_ENVS_DIR (.venv-peers), built with uv."""
    from optiinfra.bench.peers.environment import PEERS, PeerEnvironmentError, setup_peer
    from optiinfra.bench.peers.process import PeerError, PeerProcess
    from optiinfra.settings import get_settings

    envs = get_settings().peer_envs_dir
    unknown = [name for name in peer or [] if name not in PEERS]
    if unknown:
        raise fail(f"unknown peer {', '.join(unknown)} (peers: {', '.join(PEERS)})", BAD_INPUT)
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


@bench_app.command("cli-startup")
def cli_startup(
    runs: Annotated[int, typer.Option(help="Timed runs of each command (the median is reported)", min=1)] = 5,
) -> None:
    """How long `optiinfra --help` takes against the interpreter's own start.

    Both measured now in fresh subprocesses (`python -m optiinfra.cli.main --help` and `python -c pass`):
    each median, their difference and their ratio."""
    import subprocess

    from optiinfra.cli.startup import measure_startup, render

    try:
        figures = measure_startup(runs)
    except subprocess.CalledProcessError as error:
        raise fail(f"{' '.join(error.cmd)} failed with exit code {error.returncode}") from error
    typer.echo(render(figures))


def _register_scale() -> None:
    from optiinfra.bench.scale.command import scale  # light: its heavy imports wait until it runs

    bench_app.command("scale")(scale)


_register_scale()
