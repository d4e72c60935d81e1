"""The fleet twin: workloads of vLLM replicas on catalog instance types, driven by traffic on a simulated
clock, writing what the real pipeline would write (instance utilization, and window statistics scraped from
each replica's emulated `/metrics`) to a metrics store.

Each window, a workload's offered rate (its traffic's mean over the window) is split evenly over its
running replicas and every replica is modelled by `ReplicaTwin`. `sync_replicas` lets the twin follow the
real (moto) fleet after a change is executed, so the agents see the effect of what they did.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import NamedTuple, Protocol

from optiinfra.capacity import (
    ModelSpec,
    ReplicaLoad,
    ReplicaPerformance,
    ServingConfig,
    config_for_instance,
)
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.truth import truth_max_throughput_rps
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import Workload
from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.rates import RateWindow
from optiinfra.metrics.scrape import VllmSample, parse_vllm_metrics
from optiinfra.metrics.store import UtilizationSample
from optiinfra.metrics.windows import WindowStats, window_stats
from optiinfra.sim.demo_fleet import DemoFleet, DemoWorkload
from optiinfra.sim.traffic import TokenLengthMix, TrafficGenerator, default_generator
from optiinfra.sim.traffic.models import HOUR_S
from optiinfra.sim.twin.clock import TwinClock, start_of_day
from optiinfra.sim.twin.replica import (
    DEFAULT_REQUESTS_SAMPLE,
    HostUtilization,
    ReplicaTwin,
    ReplicaWindow,
)
from optiinfra.sim.vllm_emulator import ReplicaMetricsState

DEFAULT_BATCH_ROWS = 5_000
"""Rows buffered before a store write: ClickHouse wants few large inserts, not one per window."""


@dataclass(frozen=True)
class TtftItlSlo:
    """A workload's latency objective: p95 time to first token and p95 inter-token latency, in seconds."""

    ttft_p95_s: float
    itl_p95_s: float

    def __post_init__(self) -> None:
        if not (self.ttft_p95_s > 0 and self.itl_p95_s > 0):
            raise ValueError("SLO latencies must be positive")


class ReplicaPlacement(NamedTuple):
    """Where one replica runs: its id, the EC2 instance (or pod) and the catalog instance type name; the
    vLLM configuration it was started with (None: vLLM's defaults on that type), and whether it takes new
    requests (a draining replica finishes what it holds and gets no share of the traffic)."""

    replica_id: str
    instance_id: str
    instance_type: str
    config: ServingConfig | None = None
    serving: bool = True


@dataclass(frozen=True)
class WorkloadTwinSpec:
    """One workload as the twin runs it. `traffic` is a generator or a rate series on the traffic axis
    (seconds from midnight UTC of the clock's start day; a series repeats past its end). `prefix_hit_rate`
    is the share of prompt tokens reported as prefix-cache hits: None takes the generator's prefix reuse,
    or 0 for a rate series."""

    workload: Workload
    replicas: Sequence[tuple[str, str, str] | ReplicaPlacement]
    traffic: TrafficGenerator | Sequence[RateWindow]
    token_mix: TokenLengthMix
    slo: TtftItlSlo
    prefix_hit_rate: float | None = None

    @property
    def workload_id(self) -> str:
        return self.workload.workload_id

    def replica_load(self, rate_rps: float) -> ReplicaLoad:
        """The load one replica sees at this arrival rate, with the token mix's mean and p95 lengths."""
        return replace(self._idle_load, arrival_rps=rate_rps)

    @cached_property
    def _idle_load(self) -> ReplicaLoad:
        """The mix's lengths, computed once: a real trace's mix has thousands of pairs."""
        prompts = sorted(prompt for prompt, _ in self.token_mix.pairs)
        return ReplicaLoad(
            arrival_rps=0.0,
            mean_prompt_tokens=self.token_mix.mean_prompt_tokens,
            mean_output_tokens=max(1.0, self.token_mix.mean_output_tokens),
            p95_prompt_tokens=float(nearest_rank(prompts, 0.95)),
        )

    @property
    def reported_prefix_hit_rate(self) -> float:
        if self.prefix_hit_rate is not None:
            return self.prefix_hit_rate
        return self.traffic.prefix_reuse if isinstance(self.traffic, TrafficGenerator) else 0.0


@dataclass(frozen=True)
class WindowRecord:
    """One replica over one window [start, end)."""

    workload_id: str
    replica_id: str
    instance_id: str
    instance_type: str
    start: datetime
    end: datetime
    window: ReplicaWindow
    slo_met: bool

    @property
    def performance(self) -> ReplicaPerformance:
        return self.window.performance

    @property
    def utilization(self) -> HostUtilization:
        return self.window.utilization


@dataclass(frozen=True)
class RunSummary:
    """What `FleetTwin.run` simulated and wrote. SLO attainment counts workload-windows in which every
    replica of the workload met its SLO."""

    windows: int
    replica_windows: int
    utilization_rows: int
    window_stats_rows: int
    workload_windows: int
    workload_windows_met: int

    @property
    def rows_written(self) -> int:
        return self.utilization_rows + self.window_stats_rows

    @property
    def slo_attainment(self) -> float:
        return self.workload_windows_met / self.workload_windows if self.workload_windows else 1.0


class MetricsSink(Protocol):
    """The part of a `MetricsStore` the twin writes to."""

    def write_window_stats(self, rows: Sequence[WindowStats]) -> None: ...

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None: ...


class RateSeries:
    """A rate series as a function of time: the duration-weighted mean over any span, zero in gaps between
    windows, repeating with the series' period past its end (so a day of traffic can drive a week)."""

    def __init__(self, windows: Sequence[RateWindow]) -> None:
        if not windows:
            raise ValueError("a rate series needs at least one window")
        self._windows = sorted(windows, key=lambda window: window.start_s)
        self._starts = [window.start_s for window in self._windows]
        self._origin = self._windows[0].start_s
        self._period = max(window.end_s for window in self._windows) - self._origin

    def mean_rate(self, start_s: float, duration_s: float) -> float:
        if not duration_s > 0:
            raise ValueError(f"duration must be positive, got {duration_s}")
        requests, at, end = 0.0, start_s, start_s + duration_s
        while at < end:
            phase = self._origin + (at - self._origin) % self._period
            index = bisect.bisect_right(self._starts, phase) - 1
            window = self._windows[index]
            if phase < window.end_s:
                rate, boundary = window.rate_rps, window.end_s
            else:
                following = index + 1
                rate = 0.0
                boundary = (
                    self._starts[following] if following < len(self._starts) else self._origin + self._period
                )
            step = min(end - at, max(boundary - phase, 1e-9))
            requests += rate * step
            at += step
        return requests / duration_s


def _rate_function(traffic: TrafficGenerator | Sequence[RateWindow]) -> Callable[[float, float], float]:
    if isinstance(traffic, TrafficGenerator):
        return lambda start_s, duration_s: traffic.rate_windows(start_s, duration_s, duration_s)[0].rate_rps
    return RateSeries(traffic).mean_rate


class _Workload:
    """A workload's spec, model and running replicas."""

    def __init__(self, spec: WorkloadTwinSpec, model: ModelSpec) -> None:
        self.spec = spec
        self.model = model
        self.mean_rate = _rate_function(spec.traffic)
        self.replicas: dict[str, ReplicaTwin] = {}
        self.draining: set[str] = set()

    def serving_count(self) -> int:
        return sum(1 for replica_id in self.replicas if replica_id not in self.draining)


class MetricsPipeline:
    """The path a real scrape takes: a replica's `/metrics` text, parsed, differenced with the previous
    scrape into `WindowStats`. With `parse_text=False` the sample is taken from the state directly (the
    same values, without the text round trip), for long simulated histories."""

    def __init__(self, *, parse_text: bool = True) -> None:
        self._previous: dict[str, VllmSample] = {}
        self._parse_text = parse_text

    def has_baseline(self, replica_id: str) -> bool:
        return replica_id in self._previous

    def scrape(
        self, state: ReplicaMetricsState, replica_id: str, at: datetime, *, customer_id: str, workload_id: str
    ) -> WindowStats | None:
        """Scrape at `at`; the window since the previous scrape of this replica, None for the first."""
        if self._parse_text:
            sample = parse_vllm_metrics(state.render().decode(), replica=replica_id, at=at)
        else:
            sample = state.sample(replica=replica_id, at=at)
        previous = self._previous.get(replica_id)
        self._previous[replica_id] = sample
        if previous is None or previous.at >= at:
            return None
        return window_stats(previous, sample, customer_id=customer_id, workload_id=workload_id)

    def forget(self, replica_id: str) -> None:
        self._previous.pop(replica_id, None)


class FleetTwin:
    """Workloads of replicas on a simulated clock; see the module docstring."""

    def __init__(
        self,
        workloads: Sequence[WorkloadTwinSpec],
        catalog: PriceCatalog,
        seed: int,
        *,
        clock: TwinClock | None = None,
        requests_sample: int = DEFAULT_REQUESTS_SAMPLE,
        parse_metrics_text: bool = True,
    ) -> None:
        if requests_sample < 0:
            raise ValueError(f"requests_sample cannot be negative, got {requests_sample}")
        self.catalog = catalog
        self.clock = clock if clock is not None else TwinClock(start_of_day(datetime.now(UTC)))
        self.requests_sample = requests_sample
        self.pipeline = MetricsPipeline(parse_text=parse_metrics_text)
        self._rng = random.Random(seed)
        self._workloads: dict[str, _Workload] = {}
        for spec in workloads:
            if spec.workload_id in self._workloads:
                raise ValueError(f"workload {spec.workload_id!r} is given twice")
            self._workloads[spec.workload_id] = _Workload(spec, capacity_model_for(spec.workload.model_name))
            self.sync_replicas(spec.workload_id, spec.replicas)

    @property
    def workload_ids(self) -> list[str]:
        return list(self._workloads)

    def spec(self, workload_id: str) -> WorkloadTwinSpec:
        return self._workload(workload_id).spec

    def replicas(self, workload_id: str) -> list[ReplicaTwin]:
        return list(self._workload(workload_id).replicas.values())

    def metrics_states(self) -> dict[str, ReplicaMetricsState]:
        """Every running replica's metrics state by replica id, e.g. to serve with `VllmEmulatorServer`."""
        return {
            replica.replica_id: replica.metrics
            for workload in self._workloads.values()
            for replica in workload.replicas.values()
        }

    def offered_rps(self, workload_id: str, window_s: float) -> float:
        """The workload's mean arrival rate over the next `window_s` seconds."""
        return self._workload(workload_id).mean_rate(self.clock.traffic_time_s, window_s)

    def advance(self, window_s: float, *, requests_sample: int | None = None) -> list[WindowRecord]:
        """Simulate one window for every replica, feed their metrics states, and move the clock on.
        `requests_sample` overrides the twin's own for this window (see `run`)."""
        if not window_s > 0:
            raise ValueError(f"window must be positive, got {window_s}")
        start = self.clock.now
        end = start + timedelta(seconds=window_s)
        records: list[WindowRecord] = []
        for workload in self._workloads.values():
            if not workload.replicas:
                continue
            spec = workload.spec
            rate = workload.mean_rate(self.clock.traffic_time_s, window_s)
            serving = workload.serving_count()
            share = spec.replica_load(rate / serving if serving else 0.0)
            for replica in workload.replicas.values():
                draining = replica.replica_id in workload.draining
                window = replica.simulate_window(
                    spec.replica_load(0.0) if draining else share,
                    window_s,
                    self._rng,
                    self.requests_sample if requests_sample is None else requests_sample,
                    token_mix=spec.token_mix,
                    prefix_hit_rate=spec.reported_prefix_hit_rate,
                )
                records.append(
                    WindowRecord(
                        workload_id=spec.workload_id,
                        replica_id=replica.replica_id,
                        instance_id=replica.instance_id,
                        instance_type=replica.instance_type.name,
                        start=start,
                        end=end,
                        window=window,
                        slo_met=window.meets(spec.slo.ttft_p95_s, spec.slo.itl_p95_s),
                    )
                )
        self.clock.advance(window_s)
        return records

    def sync_replicas(
        self, workload_id: str, replicas: Sequence[tuple[str, str, str] | ReplicaPlacement]
    ) -> None:
        """Make the workload's replicas these placements ((replica_id, instance_id, instance_type) or a
        full `ReplicaPlacement`), as the real fleet now has them. A replica whose instance, type or vLLM
        configuration changed was restarted, so its counters start again from zero; new replicas start
        fresh; missing ones stop. Draining replicas (not serving) get no traffic."""
        workload = self._workload(workload_id)
        elsewhere = {
            replica_id
            for other in self._workloads.values()
            if other is not workload
            for replica_id in other.replicas
        }
        placements = [ReplicaPlacement(*placement) for placement in replicas]
        ids = [placement.replica_id for placement in placements]
        if len(set(ids)) != len(ids) or elsewhere.intersection(ids):
            raise ValueError(f"replica ids must be unique across the fleet: {ids}")
        current: dict[str, ReplicaTwin] = {}
        for placement in placements:
            current[placement.replica_id] = self._placed(workload, placement)
        for removed in workload.replicas.keys() - current.keys():
            self.pipeline.forget(removed)
        workload.replicas = current
        workload.draining = {placement.replica_id for placement in placements if not placement.serving}
        workload.spec = replace(workload.spec, replicas=list(placements))

    def run(
        self,
        duration_s: float,
        window_s: float,
        sink: MetricsSink | None = None,
        *,
        with_window_stats: bool = True,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        requests_sample: int | None = None,
    ) -> RunSummary:
        """Advance window by window for `duration_s` (the last window may be shorter), writing one
        `UtilizationSample` per instance per window (stamped with the window's start, as CloudWatch stamps a
        period) and, with `with_window_stats`, the `WindowStats` the real scrape pipeline derives.
        `requests_sample`, when given, is the requests per replica and window drawn into the latency
        histograms for this run alone (e.g. none for a history whose latencies nobody reads)."""
        if not (duration_s > 0 and window_s > 0):
            raise ValueError("duration and window must be positive")
        writer = _BufferedWriter(sink, batch_rows)
        if with_window_stats:
            self._scrape_baselines()
        end_s = self.clock.now_s + duration_s
        windows = replica_windows = workload_windows = workload_windows_met = 0
        while (remaining := end_s - self.clock.now_s) > 1e-9:
            records = self.advance(min(window_s, remaining), requests_sample=requests_sample)
            windows += 1
            replica_windows += len(records)
            missed = {record.workload_id for record in records if not record.slo_met}
            served = {record.workload_id for record in records}
            workload_windows += len(served)
            workload_windows_met += len(served - missed)
            writer.utilization(
                [
                    record.utilization.sample(
                        self._customer(record.workload_id), record.instance_id, record.start
                    )
                    for record in records
                ]
            )
            if with_window_stats:
                writer.window_stats(self._scrape_all())
        writer.flush()
        return RunSummary(
            windows=windows,
            replica_windows=replica_windows,
            utilization_rows=writer.utilization_rows,
            window_stats_rows=writer.window_stats_rows,
            workload_windows=workload_windows,
            workload_windows_met=workload_windows_met,
        )

    @classmethod
    def from_demo_fleet(
        cls,
        fleet: DemoFleet,
        instance_ids: Mapping[str, Sequence[str]],
        catalog: PriceCatalog,
        seed: int,
        *,
        clock: TwinClock | None = None,
        requests_sample: int = DEFAULT_REQUESTS_SAMPLE,
    ) -> FleetTwin:
        """The demo fleet's workloads on the given instances (by workload id), with traffic chosen so that
        the twin reproduces each workload's story (see `demo_workload_spec`)."""
        specs = []
        for index, demo in enumerate(fleet.deployments):
            workload_id = demo.workload.workload_id
            if workload_id not in instance_ids:
                raise KeyError(f"no instance ids given for demo workload {workload_id!r}")
            specs.append(demo_workload_spec(demo, instance_ids[workload_id], catalog, seed + index))
        return cls(specs, catalog, seed, clock=clock, requests_sample=requests_sample)

    def _workload(self, workload_id: str) -> _Workload:
        found = self._workloads.get(workload_id)
        if found is None:
            raise KeyError(f"the twin has no workload {workload_id!r}; it has {', '.join(self._workloads)}")
        return found

    def _customer(self, workload_id: str) -> str:
        return self._workloads[workload_id].spec.workload.customer_id

    def _placed(self, workload: _Workload, placement: ReplicaPlacement) -> ReplicaTwin:
        existing = workload.replicas.get(placement.replica_id)
        instance_type = self.catalog.get(placement.instance_type, workload.spec.workload.region)
        config = (
            placement.config
            if placement.config is not None
            else config_for_instance(instance_type, workload.model)
        )
        if (
            existing is not None
            and existing.instance_id == placement.instance_id
            and existing.instance_type.name == placement.instance_type
            and existing.config == config
        ):
            return existing
        if existing is not None:
            metrics = existing.metrics
            metrics.restart()
        else:
            metrics = ReplicaMetricsState(workload.spec.workload.model_name, clock=lambda: self.clock.epoch_s)
        return ReplicaTwin(
            placement.replica_id, placement.instance_id, instance_type, workload.model, metrics, config=config
        )

    def _scrape_baselines(self) -> None:
        now = self.clock.now
        for workload in self._workloads.values():
            for replica in workload.replicas.values():
                if not self.pipeline.has_baseline(replica.replica_id):
                    self._scrape(workload, replica, now)

    def _scrape_all(self) -> list[WindowStats]:
        now = self.clock.now
        found = (
            self._scrape(workload, replica, now)
            for workload in self._workloads.values()
            for replica in workload.replicas.values()
        )
        return [stats for stats in found if stats is not None]

    def _scrape(self, workload: _Workload, replica: ReplicaTwin, at: datetime) -> WindowStats | None:
        return self.pipeline.scrape(
            replica.metrics,
            replica.replica_id,
            at,
            customer_id=workload.spec.workload.customer_id,
            workload_id=workload.spec.workload_id,
        )


class _BufferedWriter:
    """Collects rows and writes them to the sink in batches; counts what it wrote."""

    def __init__(self, sink: MetricsSink | None, batch_rows: int) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be positive, got {batch_rows}")
        self._sink = sink
        self._batch_rows = batch_rows
        self._utilization: list[UtilizationSample] = []
        self._window_stats: list[WindowStats] = []
        self.utilization_rows = 0
        self.window_stats_rows = 0

    def utilization(self, rows: Sequence[UtilizationSample]) -> None:
        self._utilization.extend(rows)
        if len(self._utilization) >= self._batch_rows:
            self._flush_utilization()

    def window_stats(self, rows: Sequence[WindowStats]) -> None:
        self._window_stats.extend(rows)
        if len(self._window_stats) >= self._batch_rows:
            self._flush_window_stats()

    def flush(self) -> None:
        self._flush_utilization()
        self._flush_window_stats()

    def _flush_utilization(self) -> None:
        if self._utilization and self._sink is not None:
            self._sink.write_utilization(self._utilization)
        self.utilization_rows += len(self._utilization)
        self._utilization = []

    def _flush_window_stats(self) -> None:
        if self._window_stats and self._sink is not None:
            self._sink.write_window_stats(self._window_stats)
        self.window_stats_rows += len(self._window_stats)
        self._window_stats = []


# --- the demo fleet ---------------------------------------------------------------------------------------

DEMO_SLOS: dict[str, TtftItlSlo] = {
    "chat-8b": TtftItlSlo(ttft_p95_s=8.0, itl_p95_s=1.0),
    "code-assist": TtftItlSlo(ttft_p95_s=10.0, itl_p95_s=1.0),
    "rag-embed": TtftItlSlo(ttft_p95_s=8.0, itl_p95_s=0.5),
    "batch-summarize": TtftItlSlo(ttft_p95_s=30.0, itl_p95_s=2.0),
    "support-bot": TtftItlSlo(ttft_p95_s=5.0, itl_p95_s=0.5),
}
"""Objectives the demo workloads meet at their current sizing under the default (Azure code) token mix,
whose 2k-token mean and 7k-token p95 prompts make prefill, not decode, set TTFT. With vLLM's default
chunked prefill (2,048-token budget on these GPUs) more than 5% of decode steps carry a prompt chunk at the
daily peak, so the p95 inter-token gap is such a step: ~0.8 s on an A10G, ~0.45 s on an L4, ~1.4 s for
the 70B AWQ model on four L4s. The ITL objectives sit above those tails; tighter ones would need a smaller
`--max-num-batched-tokens`, not more replicas."""
DEFAULT_DEMO_SLO = TtftItlSlo(ttft_p95_s=10.0, itl_p95_s=1.0)


def demo_workload_spec(
    demo: DemoWorkload, instance_ids: Sequence[str], catalog: PriceCatalog, seed: int
) -> WorkloadTwinSpec:
    """A demo workload with traffic that reproduces its GPU utilization profile.

    The traffic is the calibrated default generator (real Azure token mix, Mooncake prefix reuse) rescaled:
    its mean rate is the profile's mean GPU utilization times the capacity of the demo's instance count,
    its daily amplitude the profile's relative swing, its peak at the profile's peak hour (UTC), and no
    weekly cycle (the demo profiles have none). The capacity model's utilization is the rate over the
    replica's capacity, so GPU utilization follows the profile; CPU, memory and latencies follow from the
    model."""
    region = demo.workload.region
    instance_type = catalog.get(demo.instance_type, region)
    model = capacity_model_for(demo.workload.model_name)
    generator = default_generator(seed)
    mix = generator.token_mix
    capacity_rps = truth_max_throughput_rps(
        config_for_instance(instance_type, model), mix.mean_prompt_tokens, max(1.0, mix.mean_output_tokens)
    )
    gpu = demo.profiles[UtilizationMetric.GPU_UTILIZATION]
    if not (gpu.mean > 0 and capacity_rps > 0):
        raise ValueError(f"demo workload {demo.workload.workload_id!r} has no GPU load to reproduce")
    traffic = replace(
        generator,
        base_rps=gpu.mean / 100 * capacity_rps * demo.instance_count,
        daily_amplitude=min(1.0, gpu.daily_amplitude / gpu.mean),
        daily_peak_s=gpu.peak_hour_utc * HOUR_S,
        weekly_amplitude=0.0,
    )
    workload_id = demo.workload.workload_id
    return WorkloadTwinSpec(
        workload=demo.workload,
        replicas=[
            ReplicaPlacement(f"{workload_id}-{index}", instance_id, demo.instance_type)
            for index, instance_id in enumerate(instance_ids)
        ],
        traffic=traffic,
        token_mix=mix,
        slo=DEMO_SLOS.get(workload_id, DEFAULT_DEMO_SLO),
    )


def gpu_utilization_p95(records: Sequence[WindowRecord]) -> float:
    """Nearest-rank p95 of the GPU utilization readings in `records` (percent); NaN when empty."""
    values = sorted(record.utilization.gpu_utilization for record in records)
    return values[max(0, math.ceil(0.95 * len(values)) - 1)] if values else math.nan
