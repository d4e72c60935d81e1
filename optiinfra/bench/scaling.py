"""Benchmark: predictive SLO-aware scaling against a reactive autoscaler, a static fleet and an oracle.

The 14-day ServeGen aggregate (Alibaba Bailian production, 10-minute windows) is scaled so that its peak
needs `--peak-replicas` (default 32) replicas of Llama-3.1-8B on g6e.xlarge (one L40S, us-east-1 on-demand)
under a 3 s p95 TTFT / 0.1 s p95 ITL objective, with the request lengths of the real Azure code trace. It is
replayed in `TICK_S` ticks on identical seeded arrivals through four policies:

- static: the fewest replicas that meet the SLO in every window of the trace, all the time;
- kpa: the reactive Knative-style autoscaler (`optiinfra.bench.kpa`) on in-flight requests per pod, swept
  over target utilization, stable/panic windows and scale-down delay: the cheapest setting that attains at
  least what ours attains (`kpa_default` is AIBrix's published setting);
- ours: `agents.performance.predictive.PredictiveScaler` (forecast or persistence, whichever its own scored
  predictions show sharper, headroom calibrated on its errors, latency correction, gradual scale-down);
- oracle: perfect foresight - in every window exactly the replicas its actual arrivals need, launched one
  provisioning delay ahead; its GPU-hours are the lower bound of any policy under the same rules.

Rules shared by every policy: a launched replica serves `PROVISIONING_S` later and is billed from launch; a
removed one drains (no new requests, released once its in-flight requests finish) and is billed until then.
The twin's replicas behave as NVIDIA's silicon-measured reference (`optiinfra.capacity.truth`, `--truth
silicon`, the default) says an L40S serving the model does, not as the planner's roofline prior does, so
only a policy that measures can know their real capacity (`--truth roofline` replays on the prior instead).
Arrivals beyond what the serving replicas can take in a tick wait as a backlog carried into the next ticks
and windows (the policies see it in flight, and the measured rate is what was served). Each `WINDOW_S`
window meets the SLO when no request waited in a backlog during it and its p95 TTFT and ITL are within the
objective as vLLM's histograms can show it: at the largest bucket bound not above each target (a 3 s TTFT
objective is read at the 2.5 s bound, since a request between 2.5 s and 3 s is counted with those up to
5 s). Arrivals are the trace's rate with minute-scale bursts (`BURST_SIGMA`, `--burst-sigma`; 0 for Poisson
only). Also reported: each forecast method's backtest WAPE, MASE and MAPE, trained on all but the
last 4 days (at most 2/7 of the trace) and tested on those; a method the training history is too short for
is skipped with the reason.

    optiinfra bench scaling [--trace PATH] [--json FILE] [--data-dir DIR] [--seed S] [--peak-replicas N]
                            [--tick S] [--days D] [--burst-sigma X] [--truth silicon|roofline]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agents.performance.forecast import BacktestErrors, ForecastMethod, RateHistory, backtest_errors
from agents.performance.predictive import (
    PredictiveScaler,
    PredictiveSettings,
    ReplicaPool,
    drain_seconds,
)
from optiinfra.bench.kpa import KpaAutoscaler, KpaSettings
from optiinfra.bench.live_agent import BENCH_FORECAST, LiveAgentAutoscalerPolicy, LiveAgentPolicy
from optiinfra.bench.peers.dynamo_planner import (
    DYNAMO_SWEEP,
    DynamoPlannerPolicy,
    DynamoSetting,
    planner_start,
)
from optiinfra.bench.peers.environment import DYNAMO
from optiinfra.bench.peers.process import PeerProcess
from optiinfra.bench.progress import StageCallback, no_stages
from optiinfra.capacity import (
    ReplicaLoad,
    ServingConfig,
    config_for_instance,
    max_rps_under_slo,
    max_throughput_rps,
    replica_performance,
)
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.roofline import ReplicaPerformance
from optiinfra.capacity.truth import TruthSource, truth_max_throughput_rps, truth_performance
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import InstanceType
from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.rates import RateWindow
from optiinfra.metrics import vllm_names
from optiinfra.settings import get_settings
from optiinfra.sim.traffic import (
    TokenLengthMix,
    load_azure_trace,
    load_servegen_aggregate,
    load_servegen_client,
)
from optiinfra.sim.traffic.generator import AZURE_CODE_TRACE, SERVEGEN_AGGREGATE
from optiinfra.sim.traffic.models import DAY_S
from optiinfra.sim.traffic.servegen import CLIENT_FILE
from optiinfra.sim.twin.fleet import TtftItlSlo

FloatArray = npt.NDArray[np.float64]

BENCH_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
BENCH_INSTANCE_TYPE = "g6e.xlarge"
"""One L40S (48 GB): an 8B model in BF16 fits with room for KV cache, and by the capacity model it is the
cheapest on-demand cost per request/s for this model, mix and SLO among the catalog's us-east-1 types."""
BENCH_REGION = "us-east-1"
BENCH_SLO = TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1)
"""An interactive coding assistant: a first token within 3 s and a smooth stream (100 ms between tokens)
for 95% of requests."""
DEFAULT_PEAK_REPLICAS = 32
"""The trace is scaled so that its peak ten-minute rate needs this many replicas by the capacity model: a
fleet large enough that one replica more or less is a few percent, as in production."""
DEFAULT_SEED = 7
TICK_S = 15.0
"""Simulation step: arrivals are drawn and every policy decides once per tick."""
WINDOW_S = 60.0
"""SLO and measurement window: latency percentiles are judged per minute, as the metrics pipeline does."""
PROVISIONING_S = 180.0
"""From launch to serving: a node with the image cached boots and loads 16 GB of weights in about three
minutes (more for a cold node; less with a warm pool)."""
BURST_SIGMA = 0.05
BURST_CORRELATION_S = 120.0
"""The ten-minute trace hides faster swings: each tick's rate is multiplied by a mean-one lognormal factor
with this log-spread, correlated over about two minutes, before the Poisson draw. ServeGen's per-client
files give each window's inter-arrival CV; a minute's count of such arrivals varies by about rate * 60 s *
CV^2, which beyond Poisson is a 4.4% spread (rate-weighted median of the windows; the burstiest tenth are
above 12%) at this bench's scale: 5% stands for the typical window, not the tail."""
KPA_TARGET_UTILIZATION = 0.7
"""Knative's default target utilization (70%). The per-pod in-flight target is what a replica holds at 70% of
its SLO capacity in requests per second, by the planner's model (what an operator sizes with). Taking 70% of
the in-flight count at full capacity instead would aim at about 98% of the real capacity, since queueing
makes in-flight requests grow much faster than the rate near saturation."""
KPA_SWEEP_UTILIZATIONS = (0.6, 0.7, 0.8, 0.9)
KPA_SWEEP_WINDOWS = ((60.0, 6.0), (180.0, 60.0), (360.0, 36.0))
"""(stable, panic) windows swept: Knative's 60 s / 6 s default, AIBrix's 180 s / 60 s, and a slower 360 s /
36 s."""
KPA_SWEEP_SCALE_DOWN_DELAYS = (0.0, 300.0, 900.0)
"""The KPA is swept over target utilization, windows and scale-down delay; `kpa` is the cheapest setting
that attains at least what ours attains (the most attaining one when none does), so ours is compared with
the best configuration a careful operator would pick, not only with the defaults."""
FLOOR_REPLICAS = 2
"""Fewest replicas kpa and ours run: one replica is a single point of failure. The oracle has no floor
beyond one replica."""
DRAIN_OUTPUT_QUANTILE = 0.99
"""A draining replica is released when a request of the mix's p99 output length would have finished."""
MAPE_TEST_DAYS = 4.0
MAPE_INTERVAL_S = 600.0
TABLE_POINTS = 800
"""Per-replica rates at which each configuration's performance is tabulated (then interpolated)."""
SLO_GOAL = 0.99
ORACLE_GOAL = 0.15
POLICIES = ("static", "kpa", "ours", "oracle")
AGENT_SCAN_S = 3600.0
"""How often the live agent is run against the replay: its default scan interval (`ScalingSettings`)."""


class BenchDataError(FileNotFoundError):
    """The real data the bench is built from is not where the settings say."""


# --- the workload and its replicas --------------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceTable:
    """One replica configuration's p95 TTFT, p95 ITL and in-flight requests over per-replica rates below
    its saturation, with its SLO capacity."""

    rates: FloatArray
    ttft_p95: FloatArray
    itl_p95: FloatArray
    in_flight: FloatArray
    max_rps: float
    slo_capacity_rps: float

    @classmethod
    def build(cls, config: ServingConfig, idle: ReplicaLoad, slo: TtftItlSlo) -> PerformanceTable:
        """The planner's view: the roofline prior, with its own SLO capacity."""
        top = max_throughput_rps(config, idle.mean_prompt_tokens, idle.mean_output_tokens)
        capacity = max_rps_under_slo(
            config,
            idle.mean_prompt_tokens,
            idle.mean_output_tokens,
            slo.ttft_p95_s,
            slo.itl_p95_s,
            idle.p95_prompt_tokens,
        )
        if not capacity > 0:
            raise ValueError(f"{config.model.name} on {config.gpu.name} cannot meet {slo}")
        rates = np.linspace(0.0, top * (1 - 1e-6), TABLE_POINTS)
        found = [replica_performance(config, replace(idle, arrival_rps=float(rate))) for rate in rates]
        return cls._of(rates, found, float(top), capacity)

    @classmethod
    def measured(
        cls, config: ServingConfig, idle: ReplicaLoad, slo: TtftItlSlo, source: TruthSource
    ) -> PerformanceTable:
        """The twin's view: the replica as `source` says it behaves, its SLO capacity the highest tabulated
        rate whose p95 TTFT and ITL meet `slo`."""
        top = truth_max_throughput_rps(config, idle.mean_prompt_tokens, idle.mean_output_tokens, source)
        rates = np.linspace(0.0, top * (1 - 1e-6), TABLE_POINTS)
        found = [truth_performance(config, replace(idle, arrival_rps=float(rate)), source) for rate in rates]
        table = cls._of(rates, found, float(top), 0.0)
        capacity = table.capacity_within(slo)
        if not capacity > 0:
            raise ValueError(f"{config.model.name} on {config.gpu.name} cannot meet {slo} ({source.value})")
        return replace(table, slo_capacity_rps=capacity)

    @classmethod
    def _of(
        cls, rates: FloatArray, found: Sequence[ReplicaPerformance], top: float, capacity: float
    ) -> PerformanceTable:
        return cls(
            rates=rates,
            ttft_p95=np.array([p.ttft_p95_s for p in found]),
            itl_p95=np.array([p.itl_p95_s for p in found]),
            in_flight=np.array([p.running + p.waiting for p in found]),
            max_rps=top,
            slo_capacity_rps=capacity,
        )

    def capacity_within(self, slo: TtftItlSlo) -> float:
        """The highest tabulated rate below which every rate's p95 TTFT and ITL meet `slo`."""
        meets = (self.ttft_p95 <= slo.ttft_p95_s) & (self.itl_p95 <= slo.itl_p95_s)
        failing = np.flatnonzero(~meets)
        if failing.size == 0:
            return float(self.rates[-1])
        return float(self.rates[failing[0] - 1]) if failing[0] > 0 else 0.0

    def latency(self, rate_rps: float) -> tuple[float, float]:
        """(p95 TTFT, p95 ITL) at a per-replica rate; infinite at or past saturation."""
        if rate_rps >= self.rates[-1]:
            return math.inf, math.inf
        return (
            float(np.interp(rate_rps, self.rates, self.ttft_p95)),
            float(np.interp(rate_rps, self.rates, self.itl_p95)),
        )

    def ttft(self, rate_rps: float) -> float:
        if rate_rps >= self.rates[-1]:
            return math.inf
        return float(np.interp(rate_rps, self.rates, self.ttft_p95))

    def in_flight_at(self, rate_rps: float, tick_s: float) -> float:
        """Requests one replica holds at a per-replica rate; past saturation, a full replica plus the queue
        one tick of excess arrivals builds."""
        if rate_rps < self.rates[-1]:
            return float(np.interp(rate_rps, self.rates, self.in_flight))
        return float(self.in_flight[-1]) + (rate_rps - self.max_rps) * tick_s


@dataclass(frozen=True)
class BenchWorkload:
    """The served model on its instance type: the planner's view and the twin's truth."""

    instance_type: InstanceType
    slo: TtftItlSlo
    load: ReplicaLoad
    """The token mix's request lengths (mean prompt and output, p95 prompt), at no arrival rate."""
    planner: PerformanceTable
    truth: PerformanceTable
    p99_output_tokens: float
    truth_source: TruthSource
    measurable_slo: TtftItlSlo
    declared_capacity_rps: float
    """What a twin replica serves within the declared objective itself (at least the measurable one's)."""

    @classmethod
    def build(cls, token_mix: TokenLengthMix, truth: TruthSource = TruthSource.SILICON) -> BenchWorkload:
        instance_type = PriceCatalog.load_default().get(BENCH_INSTANCE_TYPE, BENCH_REGION)
        config = config_for_instance(instance_type, capacity_model_for(BENCH_MODEL))
        prompts = sorted(prompt for prompt, _ in token_mix.pairs)
        outputs = sorted(output for _, output in token_mix.pairs)
        idle = ReplicaLoad(
            arrival_rps=0.0,
            mean_prompt_tokens=token_mix.mean_prompt_tokens,
            mean_output_tokens=max(1.0, token_mix.mean_output_tokens),
            p95_prompt_tokens=float(nearest_rank(prompts, 0.95)),
        )
        measurable = measurable_slo(BENCH_SLO)
        truth_table = PerformanceTable.measured(config, idle, measurable, truth)
        return cls(
            instance_type=instance_type,
            slo=BENCH_SLO,
            load=idle,
            planner=PerformanceTable.build(config, idle, BENCH_SLO),
            truth=truth_table,
            p99_output_tokens=float(nearest_rank(outputs, DRAIN_OUTPUT_QUANTILE)),
            truth_source=truth,
            measurable_slo=measurable,
            declared_capacity_rps=truth_table.capacity_within(BENCH_SLO),
        )

    @property
    def p95_prompt_tokens(self) -> float:
        p95 = self.load.p95_prompt_tokens
        assert p95 is not None  # `build` reads it off the token mix
        return p95

    def drain_s(self, rate_rps: float) -> float:
        ttft, itl = self.truth.latency(rate_rps)
        return drain_seconds(ttft_p95_s=ttft, itl_s=itl, max_output_tokens=self.p99_output_tokens)

    def oracle_need(self, requests: float, seconds: float) -> int:
        """Fewest replicas that serve `requests` over `seconds` within the SLO (one at least)."""
        return max(1, math.ceil(requests / (seconds * self.truth.slo_capacity_rps) - 1e-12))


def measurable_slo(slo: TtftItlSlo) -> TtftItlSlo:
    """The objective as vLLM's latency histograms can show it met: each target at the largest bucket bound
    not above it."""

    def edge(target: float, bounds: Sequence[float]) -> float:
        below = [bound for bound in bounds if bound <= target + 1e-12]
        if not below:
            raise ValueError(f"a {target:g} s target is below vLLM's smallest histogram bucket")
        return below[-1]

    return TtftItlSlo(
        ttft_p95_s=edge(slo.ttft_p95_s, vllm_names.TTFT_BUCKETS),
        itl_p95_s=edge(slo.itl_p95_s, vllm_names.ITL_BUCKETS),
    )


# --- traffic ------------------------------------------------------------------------------------------------


def load_trace(path: Path, days: float | None) -> list[RateWindow]:
    """A ServeGen-format aggregate, or one ServeGen client's own series (`chunk-N-trace.csv`: traffic no
    policy here was tuned on), rebased to start at 0 and cut to its first `days`."""
    windows = (
        load_servegen_client(path) if CLIENT_FILE.fullmatch(path.name) else load_servegen_aggregate(path)
    )
    if not any(w.rate_rps > 0 for w in windows):
        raise ValueError(f"{path} carries no traffic")
    first = windows[0].start_s
    rebased = [RateWindow(w.start_s - first, w.duration_s, w.rate_rps) for w in windows]
    if days is not None:
        rebased = [w for w in rebased if w.start_s < days * DAY_S - 1e-6]
        if len(rebased) < 2:
            raise ValueError(f"--days {days} leaves fewer than two windows of {path}")
    return rebased


def tick_arrivals(
    windows: Sequence[RateWindow],
    tick_s: float,
    seed: int,
    burst_sigma: float = BURST_SIGMA,
    burst_correlation_s: float = BURST_CORRELATION_S,
) -> FloatArray:
    """Requests arriving in each tick: the rate interpolated linearly between window midpoints (flat
    before the first and after the last), times a correlated lognormal burst factor, then Poisson."""
    end = windows[-1].end_s
    ticks = math.floor(end / tick_s + 1e-9)
    middles = np.array([w.start_s + w.duration_s / 2 for w in windows])
    rates = np.array([w.rate_rps for w in windows])
    rate = np.interp((np.arange(ticks) + 0.5) * tick_s, middles, rates)
    rng = np.random.default_rng(seed)
    phi = math.exp(-tick_s / burst_correlation_s) if burst_correlation_s > 0 else 0.0
    shocks = rng.standard_normal(ticks) * burst_sigma * math.sqrt(1 - phi * phi)
    log_factor = np.empty(ticks)
    level = rng.standard_normal() * burst_sigma
    for index in range(ticks):
        level = phi * level + shocks[index]
        log_factor[index] = level
    factor = np.exp(log_factor - burst_sigma**2 / 2)
    counts: FloatArray = rng.poisson(rate * factor * tick_s).astype(np.float64)
    return counts


# --- policies -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowMeasurement:
    """What the replicas' metrics show over one window."""

    end_s: float
    requests: float
    replica_seconds: float
    ttft_p95_s: float | None
    itl_p95_s: float | None


class Policy(Protocol):
    """A scaling policy under replay. Each tick it sees what was served (`requests`), what arrived (a
    gateway's count, backlog included in neither), the replicas serving and the requests in flight; each
    window, the window's measurement; then it sets the scale."""

    name: str

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None: ...

    def observe_window(self, window: WindowMeasurement) -> None: ...

    def decide(self, now_s: float) -> int: ...


class StaticPolicy:
    name = "static"

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        pass

    def observe_window(self, window: WindowMeasurement) -> None:
        pass

    def decide(self, now_s: float) -> int:
        return self.replicas


class OraclePolicy:
    """Replays a precomputed scale per decision tick."""

    name = "oracle"

    def __init__(self, scale_by_tick: Sequence[int], tick_s: float) -> None:
        self._scale = scale_by_tick
        self._tick_s = tick_s

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        pass

    def observe_window(self, window: WindowMeasurement) -> None:
        pass

    def decide(self, now_s: float) -> int:
        index = min(len(self._scale) - 1, round(now_s / self._tick_s))
        return self._scale[index]


class KpaPolicy:
    """The KPA fed the in-flight requests summed over the serving replicas and the ready pod count."""

    def __init__(self, autoscaler: KpaAutoscaler, name: str = "kpa") -> None:
        self.name = name
        self.autoscaler = autoscaler
        self._last: tuple[float, int] = (0.0, 0)

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        self._last = (in_flight, serving)

    def observe_window(self, window: WindowMeasurement) -> None:
        pass

    def decide(self, now_s: float) -> int:
        in_flight, ready = self._last
        return self.autoscaler.decide(now_s, in_flight, ready)


class OursPolicy:
    name = "ours"

    def __init__(self, scaler: PredictiveScaler) -> None:
        self.scaler = scaler

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        pass

    def observe_window(self, window: WindowMeasurement) -> None:
        self.scaler.observe_window(
            end_s=window.end_s,
            duration_s=WINDOW_S,
            requests=window.requests,
            replica_seconds=window.replica_seconds,
            ttft_p95_s=window.ttft_p95_s,
            itl_p95_s=window.itl_p95_s,
        )

    def decide(self, now_s: float) -> int:
        return self.scaler.decide(now_s).replicas


# --- simulation ---------------------------------------------------------------------------------------------


@dataclass
class PolicyOutcome:
    """How one policy served the trace."""

    name: str
    windows: int = 0
    windows_met: int = 0
    windows_met_declared: int = 0
    """Windows met at the declared objective itself (as an interpolated p95 would show them)."""
    replica_seconds: float = 0.0
    serving_seconds: float = 0.0
    max_replicas: int = 0
    launches: int = 0
    gpus_per_replica: int = 1
    hourly_usd: float = 0.0
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def slo_attainment(self) -> float:
        return self.windows_met / self.windows if self.windows else 1.0

    @property
    def slo_attainment_declared(self) -> float:
        return self.windows_met_declared / self.windows if self.windows else 1.0

    @property
    def gpu_hours(self) -> float:
        return self.replica_seconds / 3600.0 * self.gpus_per_replica

    @property
    def cost_usd(self) -> float:
        return self.replica_seconds / 3600.0 * self.hourly_usd

    def to_json(self) -> dict[str, object]:
        return {
            "slo_attainment": round(self.slo_attainment, 5),
            "slo_attainment_declared": round(self.slo_attainment_declared, 5),
            "gpu_hours": round(self.gpu_hours, 2),
            "cost_usd": round(self.cost_usd, 2),
            "windows": self.windows,
            "windows_met": self.windows_met,
            "mean_replicas": round(self.replica_seconds / self.seconds, 3) if self.seconds else 0.0,
            "max_replicas": self.max_replicas,
            "launches": self.launches,
            **self.extra,
        }


def simulate(
    policy: Policy, counts: FloatArray, workload: BenchWorkload, tick_s: float, initial_replicas: int
) -> PolicyOutcome:
    """Run one policy over the arrivals: serve each tick on the replicas ready then, judge each window,
    measure, and let the policy set the scale for the next tick."""
    pool = ReplicaPool(provisioning_s=PROVISIONING_S, initial_replicas=initial_replicas)
    per_window = max(1, round(WINDOW_S / tick_s))
    truth = workload.truth
    outcome = PolicyOutcome(
        policy.name,
        gpus_per_replica=workload.instance_type.gpu_count,
        hourly_usd=workload.instance_type.on_demand_hourly_usd,
    )
    window_requests = window_replica_s = 0.0
    window_unserved = False
    backlog = 0.0
    ticks = len(counts)
    for index in range(ticks):
        t_s = index * tick_s
        serving = pool.serving(t_s)
        # Requests the replicas could not take yet wait for the next tick: a backlog is carried, never
        # forgiven at a window's edge.
        offered = backlog + float(counts[index])
        served = min(offered, serving * truth.max_rps * tick_s)
        backlog = offered - served
        requests = served
        per_replica = requests / tick_s / serving if serving else math.inf
        window_requests += requests
        window_replica_s += serving * tick_s
        window_unserved = window_unserved or backlog >= 1.0
        outcome.serving_seconds += serving * tick_s
        in_flight = (serving * truth.in_flight_at(per_replica, tick_s) if serving else 0.0) + backlog
        policy.observe_tick(t_s + tick_s, requests, serving, in_flight, float(counts[index]))
        if (index + 1) % per_window == 0 or index == ticks - 1:
            load = window_requests / window_replica_s if window_replica_s > 0 else math.inf
            idle = window_requests == 0 and backlog < 1.0
            met = idle or (not window_unserved and load <= truth.slo_capacity_rps)
            met_declared = idle or (not window_unserved and load <= workload.declared_capacity_rps)
            outcome.windows += 1
            outcome.windows_met += met
            outcome.windows_met_declared += met_declared
            ttft, itl = truth.latency(load) if window_requests > 0 else (None, None)
            policy.observe_window(
                WindowMeasurement(t_s + tick_s, window_requests, window_replica_s, ttft, itl)
            )
            window_requests = window_replica_s = 0.0
            window_unserved = False
        scale = policy.decide(t_s + tick_s)
        pool.scale_to(t_s + tick_s, scale, drain_s=workload.drain_s(per_replica))
        outcome.max_replicas = max(outcome.max_replicas, pool.scale)
    outcome.seconds = ticks * tick_s
    outcome.replica_seconds = pool.replica_seconds(outcome.seconds)
    outcome.launches = pool.launches
    return outcome


def kpa_target_per_pod(workload: BenchWorkload, utilization: float, tick_s: float) -> float:
    """The KPA's in-flight target: what a replica holds at `utilization` of its SLO capacity, by the model."""
    return workload.planner.in_flight_at(utilization * workload.planner.slo_capacity_rps, tick_s)


def oracle_scale(counts: FloatArray, workload: BenchWorkload, tick_s: float) -> list[int]:
    """The oracle's scale at each tick boundary: what every window from now until a replica launched now
    would serve needs, so capacity is launched exactly one provisioning delay ahead and kept no longer."""
    per_window = max(1, round(WINDOW_S / tick_s))
    ticks = len(counts)
    need_by_tick: list[int] = []
    for first in range(0, ticks, per_window):
        chunk = counts[first : first + per_window]
        need = workload.oracle_need(float(chunk.sum()), len(chunk) * tick_s)
        need_by_tick.extend([need] * len(chunk))
    ahead = round(PROVISIONING_S / tick_s)
    return [max(need_by_tick[index : index + ahead + 1]) for index in range(ticks)]


# --- forecast accuracy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastScores:
    train_days: float
    test_days: float
    errors_by_method: dict[str, BacktestErrors]
    skipped: dict[str, str]
    """Methods that could not be fitted to the training history, with the reason (too short a history)."""
    baseline_method: str | None

    @property
    def prophet(self) -> BacktestErrors | None:
        return self.errors_by_method.get(ForecastMethod.PROPHET.value)

    @property
    def baseline(self) -> BacktestErrors | None:
        return self.errors_by_method.get(self.baseline_method) if self.baseline_method else None

    def to_json(self) -> dict[str, object]:
        methods: dict[str, object] = {
            name: {"mape": _rounded(e.mape), "wape": round(e.wape, 3), "mase": _rounded(e.mase)}
            for name, e in self.errors_by_method.items()
        }
        methods |= {name: {"skipped": reason} for name, reason in self.skipped.items()}
        prophet, baseline = self.prophet, self.baseline
        return {
            "forecast": methods,
            "mape_prophet": _rounded(prophet.mape) if prophet else None,
            "mape_baseline": _rounded(baseline.mape) if baseline else None,
            "wape_prophet": round(prophet.wape, 3) if prophet else None,
            "wape_baseline": round(baseline.wape, 3) if baseline else None,
            "mase_prophet": _rounded(prophet.mase) if prophet else None,
            "mase_baseline": _rounded(baseline.mase) if baseline else None,
            "baseline_method": self.baseline_method,
            "forecast_train_days": round(self.train_days, 3),
            "forecast_test_days": round(self.test_days, 3),
        }


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def forecast_scores(windows: Sequence[RateWindow], test_days: float = MAPE_TEST_DAYS) -> ForecastScores:
    """Backtest errors (MAPE, WAPE, MASE) of each method trained on all but the last `test_days` (at most
    2/7 of the trace, so a short trace keeps most of itself to train on) and tested on them, on ten-minute
    rates. A method that cannot fit the training history is skipped with its reason, as the live agent skips
    it on a young workload; the baseline is the better of seasonal naive and Holt-Winters by WAPE."""
    history = RateHistory.from_rate_windows(windows, MAPE_INTERVAL_S)
    test_s = min(test_days * DAY_S, history.duration_s * 2 / 7)
    test_s = math.floor(test_s / MAPE_INTERVAL_S) * MAPE_INTERVAL_S
    train, held_out = history.split(history.end_s - test_s)
    errors: dict[str, BacktestErrors] = {}
    skipped: dict[str, str] = {}
    for method in ForecastMethod:
        try:
            errors[method.value] = backtest_errors(method, train, held_out)
        except ValueError as error:
            skipped[method.value] = str(error)
    baselines = [
        method
        for method in (ForecastMethod.SEASONAL_NAIVE.value, ForecastMethod.HOLT_WINTERS.value)
        if method in errors
    ]
    baseline = min(baselines, key=lambda method: errors[method].wape, default=None)
    return ForecastScores(train.duration_s / DAY_S, held_out.duration_s / DAY_S, errors, skipped, baseline)


# --- the bench ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpaSetting:
    """One KPA configuration of the sweep."""

    target_utilization: float
    stable_window_s: float
    panic_window_s: float
    scale_down_delay_s: float
    target_per_pod: float

    def to_json(self) -> dict[str, float]:
        return {
            "target": self.target_utilization,
            "target_in_flight_per_pod": round(self.target_per_pod, 3),
            "stable_window_s": self.stable_window_s,
            "panic_window_s": self.panic_window_s,
            "scale_down_delay_s": self.scale_down_delay_s,
        }


def kpa_sweep_settings(
    workload: BenchWorkload,
    tick_s: float,
    utilizations: Sequence[float] = KPA_SWEEP_UTILIZATIONS,
    windows: Sequence[tuple[float, float]] = KPA_SWEEP_WINDOWS,
    delays: Sequence[float] = KPA_SWEEP_SCALE_DOWN_DELAYS,
) -> list[KpaSetting]:
    return [
        KpaSetting(utilization, stable, panic, delay, kpa_target_per_pod(workload, utilization, tick_s))
        for utilization in utilizations
        for stable, panic in windows
        for delay in delays
    ]


def _is_published(setting: KpaSetting) -> bool:
    """The windows and delay of AIBrix's published KPA (`KpaSettings`' defaults)."""
    published = KpaSettings(target_per_pod=1.0)
    return (setting.stable_window_s, setting.panic_window_s, setting.scale_down_delay_s) == (
        published.stable_window_s,
        published.panic_window_s,
        published.scale_down_delay_s,
    )


def sweep_rows(sweep: Sequence[tuple[KpaSetting | DynamoSetting, PolicyOutcome]]) -> list[dict[str, object]]:
    """Each swept setting with its outcome's headline figures, as the JSON lists them."""
    return [
        {
            **setting.to_json(),
            **{
                key: value
                for key, value in outcome.to_json().items()
                if key in ("slo_attainment", "gpu_hours", "cost_usd", "launches")
            },
        }
        for setting, outcome in sweep
    ]


def cheapest_outcome(
    sweep: Sequence[tuple[object, PolicyOutcome]], attainment: float
) -> PolicyOutcome | None:
    """The outcome of the swept setting with the fewest GPU-hours among those attaining at least
    `attainment`; None when none does."""
    found = cheapest_attaining(sweep, attainment)
    return sweep[found][1] if found is not None else None


def cheapest_attaining(sweep: Sequence[tuple[object, PolicyOutcome]], attainment: float) -> int | None:
    """Index of the setting with the fewest GPU-hours among those attaining at least `attainment`; None
    when none does."""
    reaching = [i for i, (_, o) in enumerate(sweep) if o.slo_attainment >= attainment]
    return min(reaching, key=lambda i: sweep[i][1].gpu_hours, default=None)


def best_setting(sweep: Sequence[tuple[object, PolicyOutcome]], attainment: float) -> int:
    """Index of the cheapest setting attaining at least `attainment`; the most attaining when none does
    (the cheaper on a tie)."""
    found = cheapest_attaining(sweep, attainment)
    if found is not None:
        return found
    return max(range(len(sweep)), key=lambda i: (sweep[i][1].slo_attainment, -sweep[i][1].gpu_hours))


@dataclass(frozen=True)
class ScalingBenchResult:
    outcomes: dict[str, PolicyOutcome]
    """static, kpa (the best swept setting), kpa_default, ours and oracle."""
    kpa_sweep: list[tuple[KpaSetting, PolicyOutcome]]
    kpa_best: KpaSetting
    scores: ForecastScores
    trace: str
    days: float
    scale: float
    peak_rps: float
    mean_rps: float
    workload: BenchWorkload
    seed: int
    tick_s: float
    burst_sigma: float
    kpa_target: float
    ours_choice: str
    elapsed_s: float
    dynamo_sweep: list[tuple[DynamoSetting, PolicyOutcome]] = field(default_factory=list)
    dynamo_versions: dict[str, str] = field(default_factory=dict)

    @property
    def kpa_reaches_ours(self) -> bool:
        """Some swept KPA setting attains at least what ours attains."""
        return self.outcomes["kpa"].slo_attainment >= self.outcomes["ours"].slo_attainment

    def cheapest_kpa_attaining(self, attainment: float) -> PolicyOutcome | None:
        """The swept KPA setting with the fewest GPU-hours among those attaining at least `attainment`."""
        return cheapest_outcome(self.kpa_sweep, attainment)

    @property
    def dynamo_best_setting(self) -> DynamoSetting:
        """Dynamo's tuned best: the cheapest swept setting attaining the SLO goal, else the most attaining."""
        return self.dynamo_sweep[best_setting(self.dynamo_sweep, SLO_GOAL)][0]

    def cheapest_dynamo_attaining(self, attainment: float) -> PolicyOutcome | None:
        """Dynamo's swept setting with the fewest GPU-hours among those attaining at least `attainment`."""
        return cheapest_outcome(self.dynamo_sweep, attainment)

    def goals(self) -> dict[str, bool]:
        oracle = self.outcomes["oracle"]
        found: dict[str, bool] = {}
        for name in ("ours", "agent", "agent_hpa"):
            if name not in self.outcomes:
                continue
            policy = self.outcomes[name]
            # Against the cheapest swept KPA setting attaining as much as the policy; when none does, the
            # policy attains more than every setting, and the goal holds.
            rival = self.cheapest_kpa_attaining(policy.slo_attainment)
            found |= {
                f"{name}_slo_attainment_at_least_99pct": policy.slo_attainment >= SLO_GOAL,
                f"{name}_gpu_hours_at_most_best_kpa_at_equal_or_better_attainment": rival is None
                or policy.gpu_hours <= rival.gpu_hours,
                f"{name}_within_15pct_of_oracle_gpu_hours": policy.gpu_hours
                <= oracle.gpu_hours * (1 + ORACLE_GOAL),
            }
            if self.dynamo_sweep and name != "ours":
                peer = self.cheapest_dynamo_attaining(policy.slo_attainment)
                found[f"{name}_gpu_hours_at_most_dynamo_at_equal_or_better_attainment"] = (
                    peer is None or policy.gpu_hours <= peer.gpu_hours
                )
        return found

    def settings(self) -> dict[str, object]:
        w = self.workload
        return {
            "model": BENCH_MODEL,
            "instance_type": w.instance_type.name,
            "region": w.instance_type.region,
            "on_demand_hourly_usd": w.instance_type.on_demand_hourly_usd,
            "slo_ttft_p95_s": w.slo.ttft_p95_s,
            "slo_itl_p95_s": w.slo.itl_p95_s,
            "planner_capacity_rps": round(w.planner.slo_capacity_rps, 3),
            "true_capacity_rps": round(w.truth.slo_capacity_rps, 3),
            "true_capacity_rps_at_declared_slo": round(w.declared_capacity_rps, 3),
            "truth": w.truth_source.value,
            "slo_read_at_ttft_s": w.measurable_slo.ttft_p95_s,
            "slo_read_at_itl_s": w.measurable_slo.itl_p95_s,
            "tick_s": self.tick_s,
            "window_s": WINDOW_S,
            "provisioning_s": PROVISIONING_S,
            "burst_sigma": self.burst_sigma,
            "burst_correlation_s": BURST_CORRELATION_S,
            "kpa_default_target_utilization": KPA_TARGET_UTILIZATION,
            "kpa_default_target_in_flight_per_pod": round(self.kpa_target, 3),
            "floor_replicas": FLOOR_REPLICAS,
        }

    def to_json(self) -> dict[str, object]:
        return {
            **{name: outcome.to_json() for name, outcome in self.outcomes.items()},
            "kpa_setting": self.kpa_best.to_json(),
            "kpa_reaches_ours": self.kpa_reaches_ours,
            "kpa_sweep": sweep_rows(self.kpa_sweep),
            **(
                {"dynamo_sweep": sweep_rows(self.dynamo_sweep), "dynamo_versions": self.dynamo_versions}
                if self.dynamo_sweep
                else {}
            ),
            **self.scores.to_json(),
            "goals": self.goals(),
            "ours_forecast": self.ours_choice,
            "trace": self.trace,
            "days": round(self.days, 3),
            "scale": round(self.scale, 6),
            "peak_rps": round(self.peak_rps, 3),
            "mean_rps": round(self.mean_rps, 3),
            "settings": self.settings(),
            "seed": self.seed,
            "elapsed_s": round(self.elapsed_s, 2),
        }


def run_scaling_bench(
    data_dir: Path,
    *,
    trace: Path | None = None,
    seed: int = DEFAULT_SEED,
    peak_replicas: int = DEFAULT_PEAK_REPLICAS,
    tick_s: float = TICK_S,
    days: float | None = None,
    burst_sigma: float = BURST_SIGMA,
    json_path: Path | None = None,
    kpa_utilizations: Sequence[float] = KPA_SWEEP_UTILIZATIONS,
    kpa_windows: Sequence[tuple[float, float]] = KPA_SWEEP_WINDOWS,
    kpa_delays: Sequence[float] = KPA_SWEEP_SCALE_DOWN_DELAYS,
    agent_scan_s: float | None = AGENT_SCAN_S,
    truth: TruthSource = TruthSource.SILICON,
    dynamo: Sequence[DynamoSetting] = DYNAMO_SWEEP,
    peer_envs_dir: Path | None = None,
    on_stage: StageCallback = no_stages,
) -> ScalingBenchResult:
    """Replay the trace (default: the ServeGen aggregate in `data_dir`) under the four policies on the same
    arrivals, score the forecasts, and write the figures to `json_path` when given."""
    if peak_replicas < 1:
        raise ValueError(f"the peak must need at least one replica, got {peak_replicas}")
    if not 0 < tick_s <= WINDOW_S or abs(WINDOW_S / tick_s - round(WINDOW_S / tick_s)) > 1e-9:
        raise ValueError(f"the tick must divide the {WINDOW_S:.0f} s window, got {tick_s}")
    if abs(PROVISIONING_S / tick_s - round(PROVISIONING_S / tick_s)) > 1e-9:
        raise ValueError(f"the tick must divide the {PROVISIONING_S:.0f} s provisioning delay, got {tick_s}")
    started = time.perf_counter()
    trace_path = trace if trace is not None else data_dir / SERVEGEN_AGGREGATE
    azure = data_dir / AZURE_CODE_TRACE
    missing = [str(path) for path in (trace_path, azure) if not path.is_file()]
    if missing:
        raise BenchDataError(
            f"the shared data set is missing ({', '.join(missing)}): set OPTIINFRA_DATA_DIR or --data-dir "
            "to the folder with servegen/ and azure_llm_2023/, or --trace to a ServeGen aggregate file"
        )
    mix = TokenLengthMix.from_requests(load_azure_trace(azure))
    workload = BenchWorkload.build(mix, truth)
    raw = load_trace(trace_path, days)
    scale = peak_replicas * workload.planner.slo_capacity_rps / max(w.rate_rps for w in raw)
    windows = [RateWindow(w.start_s, w.duration_s, w.rate_rps * scale) for w in raw]
    scores = forecast_scores(windows)
    if not 0 <= burst_sigma < 1:
        raise ValueError(f"the burst spread must lie in [0, 1), got {burst_sigma}")
    counts = tick_arrivals(windows, tick_s, seed, burst_sigma)

    oracle = oracle_scale(counts, workload, tick_s)
    initial = oracle[0]
    static_replicas = max(oracle)
    kpa_target = kpa_target_per_pod(workload, KPA_TARGET_UTILIZATION, tick_s)
    kpa = KpaAutoscaler(KpaSettings(target_per_pod=kpa_target, min_replicas=FLOOR_REPLICAS), initial)
    ours = PredictiveScaler(
        PredictiveSettings(lead_s=PROVISIONING_S, window_s=WINDOW_S, floor=FLOOR_REPLICAS),
        capacity_rps_per_replica=workload.planner.slo_capacity_rps,
        expected_latency=workload.planner.latency,
        initial_replicas=initial,
        slo_ttft_p95_s=workload.slo.ttft_p95_s,
        slo_itl_p95_s=workload.slo.itl_p95_s,
    )
    agents: list[LiveAgentPolicy] = []
    if agent_scan_s is not None:
        for kind in (LiveAgentPolicy, LiveAgentAutoscalerPolicy):
            agents.append(
                kind(
                    instance_type=workload.instance_type,
                    model_name=BENCH_MODEL,
                    slo_ttft_p95_s=workload.slo.ttft_p95_s,
                    slo_itl_p95_s=workload.slo.itl_p95_s,
                    mean_prompt_tokens=workload.load.mean_prompt_tokens,
                    mean_output_tokens=workload.load.mean_output_tokens,
                    p95_prompt_tokens=workload.p95_prompt_tokens,
                    window_s=WINDOW_S,
                    initial_replicas=initial,
                    scan_interval_s=agent_scan_s,
                    lead_s=PROVISIONING_S,
                    floor=FLOOR_REPLICAS,
                )
            )
    policies: list[Policy] = [
        StaticPolicy(static_replicas),
        OursPolicy(ours),
        OraclePolicy(oracle, tick_s),
        *agents,
    ]
    outcomes: dict[str, PolicyOutcome] = {}
    for policy in policies:
        on_stage(f"Simulating the {policy.name} policy")
        begun = time.perf_counter()
        first = static_replicas if policy.name == "static" else initial
        outcomes[policy.name] = simulate(policy, counts, workload, tick_s, first)
        outcomes[policy.name].extra["simulate_s"] = round(time.perf_counter() - begun, 2)
    sweep: list[tuple[KpaSetting, PolicyOutcome]] = []
    settings = kpa_sweep_settings(workload, tick_s, kpa_utilizations, kpa_windows, kpa_delays)
    for number, setting in enumerate(settings, start=1):
        on_stage(f"Sweeping the reactive autoscaler (KPA): setting {number} of {len(settings)}")
        tuned = KpaPolicy(
            KpaAutoscaler(
                KpaSettings(
                    target_per_pod=setting.target_per_pod,
                    stable_window_s=setting.stable_window_s,
                    panic_window_s=setting.panic_window_s,
                    scale_down_delay_s=setting.scale_down_delay_s,
                    min_replicas=FLOOR_REPLICAS,
                ),
                initial,
            )
        )
        sweep.append((setting, simulate(tuned, counts, workload, tick_s, initial)))
    if not sweep:
        raise ValueError("the KPA sweep needs at least one setting")
    best = best_setting(sweep, outcomes["ours"].slo_attainment)
    outcomes["kpa"] = sweep[best][1]
    # AIBrix's published setting is a point of the sweep: its run is taken from there, not repeated.
    published = next(
        (o for s, o in sweep if s.target_utilization == KPA_TARGET_UTILIZATION and _is_published(s)), None
    )
    outcomes["kpa_default"] = (
        replace(published, name="kpa_default")
        if published is not None
        else simulate(KpaPolicy(kpa, name="kpa_default"), counts, workload, tick_s, initial)
    )
    outcomes["ours"].extra.update(
        {
            "final_correction": round(ours.correction, 4),
            "final_slowdown": round(ours.slowdown, 4),
            "final_headroom": round(ours.headroom, 4),
            "final_predictor": ours.predictor,
            "forecast_refits": ours.refits,
            "final_forecast_method": ours.choice.method.value if ours.choice else None,
        }
    )
    for agent in agents:
        outcomes[agent.name].extra.update(
            {
                "scan_interval_s": agent_scan_s,
                "scans": agent.scans,
                "proposals": agent.proposals,
                "forecast_methods": [method.value for method in BENCH_FORECAST.methods],
                "last_decision": agent.last_reason,
            }
        )
        if isinstance(agent, LiveAgentAutoscalerPolicy) and agent.targets:
            outcomes[agent.name].extra["target_running_per_pod_mean"] = round(
                sum(agent.targets) / len(agent.targets), 3
            )
    dynamo_sweep: list[tuple[DynamoSetting, PolicyOutcome]] = []
    dynamo_versions: dict[str, str] = {}
    if dynamo:
        envs = peer_envs_dir if peer_envs_dir is not None else get_settings().peer_envs_dir
        config = config_for_instance(workload.instance_type, capacity_model_for(BENCH_MODEL))
        with PeerProcess(DYNAMO, envs) as process:
            dynamo_versions = {str(k): str(v) for k, v in process.ask({"op": "version"}).items()}
            for number, choice in enumerate(dynamo, start=1):
                on_stage(f"Running NVIDIA Dynamo's planner: setting {number} of {len(dynamo)}")
                begun = time.perf_counter()
                planner = DynamoPlannerPolicy(
                    process,
                    planner_start(config, workload.slo, choice, FLOOR_REPLICAS),
                    mean_prompt_tokens=workload.load.mean_prompt_tokens,
                    mean_output_tokens=workload.load.mean_output_tokens,
                    initial_replicas=initial,
                )
                outcome = simulate(planner, counts, workload, tick_s, initial)
                outcome.extra |= {
                    **choice.to_json(),
                    "planner_ticks": planner.ticks,
                    "target_changes": planner.changes,
                    "version": dynamo_versions.get("ai-dynamo", ""),
                    "perf_model": "aiconfigurator-core "
                    + dynamo_versions.get("aiconfigurator-core", "")
                    + " silicon data behind a stand-in aisimulate_core",
                    "simulate_s": round(time.perf_counter() - begun, 2),
                }
                planner.finish()
                dynamo_sweep.append((choice, outcome))
        default = next((o for c, o in dynamo_sweep if c.is_default), dynamo_sweep[0][1])
        outcomes["dynamo_planner"] = replace(default, name="dynamo_planner")
        best_dynamo = dynamo_sweep[best_setting(dynamo_sweep, SLO_GOAL)][1]
        outcomes["dynamo_planner_best"] = replace(best_dynamo, name="dynamo_planner_best")
    duration = windows[-1].end_s - windows[0].start_s
    result = ScalingBenchResult(
        outcomes=outcomes,
        kpa_sweep=sweep,
        kpa_best=sweep[best][0],
        scores=scores,
        trace=str(trace_path),
        days=duration / DAY_S,
        scale=scale,
        peak_rps=max(w.rate_rps for w in windows),
        mean_rps=sum(w.expected_requests for w in windows) / duration,
        workload=workload,
        seed=seed,
        tick_s=tick_s,
        burst_sigma=burst_sigma,
        kpa_target=kpa_target,
        ours_choice=ours.choice.reason if ours.choice else "no forecast (too little history)",
        elapsed_s=time.perf_counter() - started,
        dynamo_sweep=dynamo_sweep,
        dynamo_versions=dynamo_versions,
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _met(met: bool) -> str:
    return "MET" if met else "NOT MET"


def _errors(errors: BacktestErrors | None) -> str:
    if errors is None:
        return "skipped"
    mape = f"{errors.mape:.2f}%" if errors.mape is not None else "n/a"
    mase = f"{errors.mase:.3f}" if errors.mase is not None else "n/a"
    return f"WAPE {errors.wape:.2f}%, MASE {mase}, MAPE {mape}"


def _against(policy: PolicyOutcome, rival: PolicyOutcome | None, swept: str) -> str:
    """A policy's GPU-hours beside the cheapest swept setting attaining as much, for a goal's line."""
    if rival is None:
        return f"no swept {swept} setting attains as much"
    return f"{policy.gpu_hours:.1f} vs {rival.gpu_hours:.1f} GPU-h at {rival.slo_attainment:.4%}"


def render(result: ScalingBenchResult) -> str:
    """The per-policy table, the forecast errors, the goals and the settings, as the bench prints them."""
    w = result.workload
    lines = [
        f"trace {result.trace}: {result.days:.2f} days scaled x{result.scale:.4f} "
        f"(peak {result.peak_rps:.1f} req/s, mean {result.mean_rps:.1f} req/s)",
        f"{BENCH_MODEL} on {w.instance_type.name} {w.instance_type.region} "
        f"(${w.instance_type.on_demand_hourly_usd}/h, {w.instance_type.gpu_count} GPU), SLO p95 TTFT "
        f"{w.slo.ttft_p95_s} s, p95 ITL {w.slo.itl_p95_s} s; capacity per replica "
        f"{w.planner.slo_capacity_rps:.3f} req/s by the model, "
        f"{w.truth.slo_capacity_rps:.3f} req/s in the twin ({w.truth_source.value}) read at vLLM's bucket "
        f"bounds (TTFT {w.measurable_slo.ttft_p95_s:g} s, ITL {w.measurable_slo.itl_p95_s:g} s), "
        f"{w.declared_capacity_rps:.3f} req/s at the declared objective",
        "",
        f"{'policy':19} {'slo_attainment':>14} {'at_declared':>11} {'gpu_hours':>10} {'cost_usd':>10} "
        f"{'mean_replicas':>13} {'max_replicas':>12} {'launches':>8}",
    ]
    for name in (*POLICIES, "kpa_default", "agent", "agent_hpa", "dynamo_planner", "dynamo_planner_best"):
        if name not in result.outcomes:
            continue
        row = result.outcomes[name].to_json()
        lines.append(
            f"{name:19} {row['slo_attainment']:>14.5f} {row['slo_attainment_declared']:>11.5f} "
            f"{row['gpu_hours']:>10.2f} {row['cost_usd']:>10.2f} "
            f"{row['mean_replicas']:>13.3f} {row['max_replicas']:>12} {row['launches']:>8}"
        )
    if "agent" in result.outcomes:
        agent = result.outcomes["agent"].extra
        lines.append(
            f"agent: the live Performance agent's decision (analyze_replica_scaling) every "
            f"{agent['scan_interval_s']:.0f} s, approved at once: {agent['scans']} scans, "
            f"{agent['proposals']} changes; forecast methods "
            + ", ".join(method.value for method in BENCH_FORECAST.methods)
        )
    if "agent_hpa" in result.outcomes:
        hpa = result.outcomes["agent_hpa"].extra
        lines.append(
            f"agent_hpa: the live agent's Kubernetes autoscaler (autoscaler_for) sized every "
            f"{hpa['scan_interval_s']:.0f} s, the HPA's arithmetic every tick on in-flight requests per pod "
            f"(mean target {hpa.get('target_running_per_pod_mean', 0):.2f})"
        )
    best = result.kpa_best
    lines.append(
        f"kpa: the best of {len(result.kpa_sweep)} swept settings at ours' attainment or better"
        if result.kpa_reaches_ours
        else f"kpa: no swept setting of {len(result.kpa_sweep)} reaches ours' attainment; the most attaining"
    )
    lines.append(
        f"     (target {best.target_utilization:.2f}, stable {best.stable_window_s:.0f} s, panic "
        f"{best.panic_window_s:.0f} s, scale-down delay {best.scale_down_delay_s:.0f} s); kpa_default is "
        "AIBrix's published setting (0.70, 180 s, 60 s, 300 s)"
    )
    if result.dynamo_sweep:
        default = result.outcomes["dynamo_planner"].extra
        lines += [
            f"dynamo_planner: NVIDIA Dynamo's planner (ai-dynamo {result.dynamo_versions.get('ai-dynamo')}, "
            f"SLA target, aggregated) at its defaults ({default['predictor']}, "
            f"{default['interval_s']:.0f} s, "
            f"at most {default['max_step']} replicas per adjustment), its performance model "
            f"{default['perf_model']}; dynamo_planner_best: the cheapest of {len(result.dynamo_sweep)} swept "
            f"settings attaining {SLO_GOAL:.0%} (else the most attaining): "
            + result.dynamo_best_setting.label(),
            "dynamo sweep (attainment / GPU-h): "
            + "; ".join(
                f"{c.label()}: {o.slo_attainment:.5f} / {o.gpu_hours:.0f}" for c, o in result.dynamo_sweep
            ),
        ]
    scores = result.scores
    lines += [
        "",
        f"forecast backtest (train {scores.train_days:.2f} days, test the last {scores.test_days:.2f} days, "
        "10-minute rates):",
        *(f"  {name:15} {_errors(errors)}" for name, errors in scores.errors_by_method.items()),
        *(f"  {name:15} skipped: {reason}" for name, reason in scores.skipped.items()),
        f"  baseline: {scores.baseline_method or 'none'}",
        f"ours' last forecast choice: {result.ours_choice}",
        "",
        "kpa sweep (target, stable/panic s, scale-down delay s: attainment / GPU-h): "
        + "; ".join(
            f"{s.target_utilization:.1f} {s.stable_window_s:.0f}/{s.panic_window_s:.0f} "
            f"{s.scale_down_delay_s:.0f}: {o.slo_attainment:.5f} / {o.gpu_hours:.0f}"
            for s, o in result.kpa_sweep
        ),
    ]
    oracle = result.outcomes["oracle"]
    met = result.goals()
    for name in ("ours", "agent", "agent_hpa"):
        if name not in result.outcomes:
            continue
        policy = result.outcomes[name]
        rival = result.cheapest_kpa_attaining(policy.slo_attainment)
        against = _against(policy, rival, "kpa")
        lines += [
            f"goal: {name} meets the SLO in >= {SLO_GOAL:.0%} of windows: "
            f"{_met(met[f'{name}_slo_attainment_at_least_99pct'])} ({policy.slo_attainment:.4%})",
            f"goal: {name} uses no more GPU-hours than the best kpa at equal or better attainment: "
            f"{_met(met[f'{name}_gpu_hours_at_most_best_kpa_at_equal_or_better_attainment'])} ({against})",
            f"goal: {name} within {ORACLE_GOAL:.0%} of the oracle's GPU-hours: "
            f"{_met(met[f'{name}_within_15pct_of_oracle_gpu_hours'])} "
            f"({policy.gpu_hours / oracle.gpu_hours - 1:+.2%})",
        ]
        peer_goal = f"{name}_gpu_hours_at_most_dynamo_at_equal_or_better_attainment"
        if peer_goal in met:
            peer = result.cheapest_dynamo_attaining(policy.slo_attainment)
            versus = _against(policy, peer, "Dynamo")
            lines.append(
                f"goal: {name} uses no more GPU-hours than Dynamo's planner at equal or better attainment: "
                f"{_met(met[peer_goal])} ({versus})"
            )
    lines += [
        "",
        "settings: " + ", ".join(f"{key} {value}" for key, value in result.settings().items()),
        f"seed {result.seed}",
        f"elapsed_s {result.elapsed_s:.1f}",
    ]
    return "\n".join(lines)
