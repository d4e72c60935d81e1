"""Benchmark: replay a real traffic trace through the fleet twin and the whole metrics pipeline, timed.

The 14-day ServeGen aggregate (Alibaba Bailian production, 10-minute windows, 48-583 req/s) is scaled down
by `--scale` (default 1/40: a 14.6 req/s peak) and served by a fleet of Llama-3.1-8B replicas on g6e.xlarge
(one L40S), as many as the scaled peak needs under a 3 s p95 TTFT / 0.1 s p95 ITL SLO with the default
(Azure code) token mix. Every window, every replica's emulated `/metrics` page is rendered, parsed by the
real scraper, differenced into `WindowStats` and written with one utilization row per instance into an
embedded ClickHouse (chdb) store. `--trace` replays another file in the ServeGen aggregate format, or a
Mooncake or Azure request trace (detected from its content; binned into 60 s windows, its own token mix).

The unlimited-cache prefix hit rate is measured on the replayed trace's own prefix blocks when it has them
(a Mooncake trace's `hash_ids`); a ServeGen or Azure file has none, and the figure is then absent. Without
`--trace`, it is measured on the bundled Mooncake conversation trace beside the ServeGen replay.

    optiinfra bench twin [--days N] [--trace PATH] [--json FILE] [--store DIR]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from optiinfra.bench.progress import StageCallback, no_stages
from optiinfra.capacity import (
    ReplicaLoad,
    ServingConfig,
    config_for_instance,
    max_rps_under_slo,
    replica_performance,
)
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Workload
from optiinfra.domain.rates import RateWindow
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.sim.traffic import (
    Request,
    TokenLengthMix,
    TraceFormatError,
    default_generator,
    load_azure_trace,
    load_mooncake_trace,
    load_servegen_aggregate,
    replay_prefix_hits,
)
from optiinfra.sim.traffic.azure import AZURE_HEADER
from optiinfra.sim.traffic.generator import MOONCAKE_CONVERSATION_TRACE, SERVEGEN_AGGREGATE
from optiinfra.sim.traffic.models import DAY_S, windows_from_requests
from optiinfra.sim.traffic.servegen import AGGREGATE_HEADER
from optiinfra.sim.twin.clock import TwinClock, start_of_day
from optiinfra.sim.twin.fleet import FleetTwin, ReplicaPlacement, TtftItlSlo, WorkloadTwinSpec

TraceFormat = Literal["servegen", "mooncake", "azure"]

SERVEGEN_SCALE = 1 / 40
"""The ServeGen fleet is about 40x the bench fleet: 583 req/s peak -> 14.6 req/s."""
REQUEST_TRACE_SCALE = 1.0
"""Request traces (Azure, Mooncake) are single deployments of a few req/s: replayed as they are."""
REQUEST_TRACE_WINDOW_S = 60.0
BENCH_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
BENCH_INSTANCE_TYPE = "g6e.xlarge"
BENCH_REGION = "us-east-1"
BENCH_SLO = TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1)
BENCH_REQUESTS_SAMPLE = 100
BENCH_SEED = 11


@dataclass(frozen=True)
class LoadedTrace:
    """A trace as a rate series, with the token mix of its requests when it has them and the requests
    themselves when they carry prefix blocks (a Mooncake trace's `hash_ids`)."""

    format: TraceFormat
    windows: list[RateWindow]
    token_mix: TokenLengthMix | None
    prefix_requests: list[Request] | None = None


def detect_trace_format(path: Path) -> TraceFormat:
    """ServeGen aggregate or Azure CSV by their header, Mooncake JSON lines by a leading '{'."""
    with path.open() as handle:
        first = next((line.strip() for line in handle if line.strip()), "")
    if first.startswith("{"):
        return "mooncake"
    header = tuple(field.strip() for field in first.split(","))
    if header == AGGREGATE_HEADER:
        return "servegen"
    if header == AZURE_HEADER:
        return "azure"
    raise TraceFormatError(path, 1, "not a ServeGen aggregate, Azure or Mooncake trace")


def load_trace(path: Path, days: float | None) -> LoadedTrace:
    """The trace's rate series, cut to its first `days`, rebased so that it starts at its own time of day.
    A missing file is a FileNotFoundError and one that is not a trace a TraceFormatError, both naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"no trace at {path}")
    trace_format = detect_trace_format(path)
    token_mix: TokenLengthMix | None = None
    requests: list[Request] = []
    if trace_format == "servegen":
        windows = load_servegen_aggregate(path)
    else:
        requests = load_mooncake_trace(path) if trace_format == "mooncake" else load_azure_trace(path)
        windows = windows_from_requests(requests, REQUEST_TRACE_WINDOW_S)
    if not windows:
        raise TraceFormatError(path, 1, "the trace has no traffic")
    first = windows[0].start_s
    if days is not None:
        windows = [window for window in windows if window.start_s < first + days * DAY_S]
        requests = [request for request in requests if request.arrival_s < first + days * DAY_S]
    if requests:
        token_mix = TokenLengthMix.from_requests(requests)
    shift = first - first % DAY_S
    rebased = [RateWindow(w.start_s - shift, w.duration_s, w.rate_rps) for w in windows]
    with_prefixes = trace_format == "mooncake" and any(request.block_hashes for request in requests)
    return LoadedTrace(trace_format, rebased, token_mix, requests if with_prefixes else None)


@dataclass(frozen=True)
class TwinBenchResult:
    """The bench's figures; `replay_seconds` times the twin plus the pipeline plus the store writes."""

    replay_seconds: float
    rows_written: int
    prefix_hit_rate_unlimited: float | None
    """Over the prefix trace's 512-token blocks with an unbounded cache; None when it has no prefixes."""
    prefix_trace: str | None
    """The trace the prefix hit rate is measured on: the replayed one, or the bundled Mooncake trace when
    none was given; None when the replayed trace has no prefix information."""
    windows: int
    replicas: int
    slo_attainment: float
    utilization_rows: int
    window_stats_rows: int
    trace: str
    trace_format: str
    days: float
    scale: float
    peak_rps: float
    mean_rps: float
    model: str
    instance_type: str
    replica_capacity_rps: float
    slo_ttft_p95_s: float
    slo_itl_p95_s: float
    requests_sample: int
    prefix_replay_seconds: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def run_twin_bench(
    data_dir: Path,
    trace: Path | None,
    json_path: Path | None,
    store_path: Path,
    *,
    days: float | None = None,
    scale: float | None = None,
    requests_sample: int = BENCH_REQUESTS_SAMPLE,
    on_stage: StageCallback = no_stages,
) -> TwinBenchResult:
    """Replay the trace (default: the ServeGen aggregate in `data_dir`) through the twin into a chdb store
    at `store_path`, measure the prefix reuse (of the trace itself when it has prefix blocks, of the bundled
    Mooncake trace when no trace is given), and write the figures to `json_path` if given. `on_stage` hears
    each stage as it starts."""
    trace_path = trace if trace is not None else data_dir / SERVEGEN_AGGREGATE
    loaded = load_trace(trace_path, days)
    on_stage(f"Loaded {loaded.format} trace {trace_path.name}: {len(loaded.windows)} windows")
    prefix_path: Path | None = trace_path if loaded.prefix_requests is not None else None
    if trace is None:
        prefix_path = data_dir / MOONCAKE_CONVERSATION_TRACE
        if not prefix_path.is_file():
            raise FileNotFoundError(f"no trace at {prefix_path}")
    factor = scale if scale is not None else (SERVEGEN_SCALE if loaded.format == "servegen" else 1.0)
    if not factor > 0:
        raise ValueError(f"scale must be positive, got {factor}")
    windows = [RateWindow(w.start_s, w.duration_s, w.rate_rps * factor) for w in loaded.windows]
    token_mix = loaded.token_mix or default_generator(BENCH_SEED).token_mix
    spec, capacity_rps = _bench_workload(windows, token_mix)
    catalog = PriceCatalog.load_default()
    duration_s = windows[-1].end_s - windows[0].start_s
    clock = TwinClock(
        start_of_day(datetime.now(UTC))
        - timedelta(days=math.ceil(duration_s / DAY_S))
        + timedelta(seconds=windows[0].start_s)
    )
    twin = FleetTwin([spec], catalog, BENCH_SEED, clock=clock, requests_sample=requests_sample)

    on_stage(
        f"Replaying {len(windows)} windows ({duration_s / DAY_S:.1f} days) through {len(spec.replicas)} twin "
        "replicas into the metrics store"
    )
    started = time.perf_counter()
    store = ChdbMetricsStore(store_path)
    try:
        summary = twin.run(duration_s, windows[0].duration_s, store)
    finally:
        store.close()
    replay_seconds = time.perf_counter() - started

    if prefix_path is not None:
        on_stage(f"Replaying {prefix_path.name}'s prefixes through an unlimited cache")
    started = time.perf_counter()
    prefix_hit_rate = _prefix_hit_rate(loaded, prefix_path)
    prefix_seconds = time.perf_counter() - started

    result = TwinBenchResult(
        replay_seconds=round(replay_seconds, 3),
        rows_written=summary.rows_written,
        prefix_hit_rate_unlimited=None if prefix_hit_rate is None else round(prefix_hit_rate, 4),
        prefix_trace=None if prefix_path is None else str(prefix_path),
        windows=summary.windows,
        replicas=len(spec.replicas),
        slo_attainment=round(summary.slo_attainment, 4),
        utilization_rows=summary.utilization_rows,
        window_stats_rows=summary.window_stats_rows,
        trace=str(trace_path),
        trace_format=loaded.format,
        days=round(duration_s / DAY_S, 3),
        scale=factor,
        peak_rps=round(max(w.rate_rps for w in windows), 3),
        mean_rps=round(sum(w.expected_requests for w in windows) / duration_s, 3),
        model=BENCH_MODEL,
        instance_type=BENCH_INSTANCE_TYPE,
        replica_capacity_rps=round(capacity_rps, 3),
        slo_ttft_p95_s=round(spec.slo.ttft_p95_s, 3),
        slo_itl_p95_s=spec.slo.itl_p95_s,
        requests_sample=requests_sample,
        prefix_replay_seconds=round(prefix_seconds, 3),
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _bench_workload(
    windows: Sequence[RateWindow], token_mix: TokenLengthMix
) -> tuple[WorkloadTwinSpec, float]:
    """The bench workload, with as many replicas as the peak needs at its SLO; and one replica's rate."""
    workload = Workload(
        customer_id="bench",
        workload_id="bench-8b",
        name="Bench 8B",
        model_name=BENCH_MODEL,
        region=BENCH_REGION,
    )
    load = WorkloadTwinSpec(workload, [], windows, token_mix, BENCH_SLO).replica_load(0.0)
    instance_type = PriceCatalog.load_default().get(BENCH_INSTANCE_TYPE, BENCH_REGION)
    config = config_for_instance(instance_type, capacity_model_for(BENCH_MODEL))
    slo = _bench_slo(config, load)
    capacity_rps = max_rps_under_slo(
        config,
        load.mean_prompt_tokens,
        load.mean_output_tokens,
        slo.ttft_p95_s,
        slo.itl_p95_s,
        load.p95_prompt_tokens,
    )
    if capacity_rps <= 0:
        raise ValueError(f"{BENCH_MODEL} on {BENCH_INSTANCE_TYPE} cannot meet {slo} for this token mix")
    count = max(1, math.ceil(max(w.rate_rps for w in windows) / capacity_rps))
    replicas = [
        ReplicaPlacement(f"bench-8b-{index}", f"i-bench{index:012x}", BENCH_INSTANCE_TYPE)
        for index in range(count)
    ]
    return WorkloadTwinSpec(workload, replicas, windows, token_mix, slo), capacity_rps


def _bench_slo(config: ServingConfig, load: ReplicaLoad) -> TtftItlSlo:
    """`BENCH_SLO`, with the TTFT objective loosened to twice an idle replica's p95 where long prompts
    (Mooncake's 12k-token mean) make 3 s unreachable on one GPU."""
    idle = replica_performance(config, replace(load, arrival_rps=0.0))
    return TtftItlSlo(max(BENCH_SLO.ttft_p95_s, 2 * idle.ttft_p95_s), BENCH_SLO.itl_p95_s)


def _prefix_hit_rate(loaded: LoadedTrace, prefix_path: Path | None) -> float | None:
    """The unlimited-cache block hit rate of the prefix trace: the replayed trace's own requests when they
    carry prefix blocks, else the file at `prefix_path`; None when there is none."""
    if prefix_path is None:
        return None
    requests = loaded.prefix_requests
    if requests is None:
        requests = load_mooncake_trace(prefix_path)
    return replay_prefix_hits(requests, None).hit_rate


def render(result: TwinBenchResult, wall_seconds: float) -> str:
    """The figures one per line, and one line saying so when the trace has no prefix information."""
    lines = []
    for key, value in result.to_json().items():
        if key == "prefix_hit_rate_unlimited" and value is None:
            value = f"none: {result.trace} has no prefix information (Mooncake hash_ids)"
        elif key == "prefix_trace" and value is None:
            value = "none"
        lines.append(f"{key:26} {value}")
    lines.append(f"{'wall_seconds':26} {wall_seconds:.3f}")
    return "\n".join(lines)
