"""Replay traffic against a fleet plan that changes by hour of day and runs part of its replicas on spot:
does the plan hold the SLO once real windows (not the forecast) arrive and spot capacity is taken back?

Each window runs the replicas the plan has for the window's hour of day (UTC). The window's rate is split
over the serving replicas in proportion to their capacity under the SLO (a capacity-aware balancer; with one
type it is the twin's even split), and every type's replicas are modelled with the twin's capacity model
(`model_window`). A window meets the SLO when every serving replica meets the p95 TTFT and p95 ITL objective.

Spot replicas are reclaimed at random: each running spot replica is interrupted with the hourly rate its
AWS Spot Advisor bucket implies (the middle of the bucket's monthly frequency, spread over the 730 hours of
a month) and is out until its replacement serves, `replacement_delay_s` later. A window counts a replica as
out when any part of the window falls in its outage, which is the conservative reading."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from optiinfra.capacity import ServingConfig, config_for_instance
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.truth import TruthSource
from optiinfra.domain.fleet import InstanceType
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.models import DAY_S, HOUR_S
from optiinfra.sim.twin.dry_run import DEFAULT_MIN_SLO_ATTAINMENT
from optiinfra.sim.twin.fleet import WorkloadTwinSpec
from optiinfra.sim.twin.replica import model_window

HOURS_PER_DAY = 24
HOURS_PER_MONTH = 730.0
DEFAULT_REPLACEMENT_DELAY_S = 600.0
"""Launching a spot (or on-demand) replacement, booting it and loading the weights: about ten minutes."""
MONTHLY_INTERRUPTION_FREQUENCY: dict[int, float] = {0: 0.025, 1: 0.075, 2: 0.125, 3: 0.175, 4: 0.225}
"""Middle of each AWS Spot Advisor bucket (<5%, 5-10%, 10-15%, 15-20%, >20% of instances interrupted per
month); the open top bucket is taken as 20-25%."""


def hourly_interruption_rate(bucket: int) -> float:
    """Interruptions per running spot replica per hour for an AWS Spot Advisor bucket."""
    if bucket not in MONTHLY_INTERRUPTION_FREQUENCY:
        raise ValueError(f"spot interruption bucket must be 0-4, got {bucket}")
    return MONTHLY_INTERRUPTION_FREQUENCY[bucket] / HOURS_PER_MONTH


@dataclass(frozen=True)
class HourReplicas:
    """One instance type's replicas in one hour of the day: `steady` (on-demand or reserved) and `spot`."""

    instance_type: InstanceType
    capacity_rps: float
    steady: int
    spot: int

    def __post_init__(self) -> None:
        if not self.capacity_rps > 0:
            raise ValueError(f"{self.instance_type.name}: capacity must be positive, got {self.capacity_rps}")
        if self.steady < 0 or self.spot < 0:
            raise ValueError(f"{self.instance_type.name}: replica counts cannot be negative")
        if self.spot and self.instance_type.spot_interruption_bucket is None:
            raise ValueError(
                f"{self.instance_type.name} has no interruption bucket to run spot replicas with"
            )


class SpotInterruptions:
    """Seeded interruption draws per spot replica slot (an instance type and an index within it): the same
    seed and the same sequence of questions give the same outages."""

    def __init__(self, seed: int, replacement_delay_s: float = DEFAULT_REPLACEMENT_DELAY_S) -> None:
        if replacement_delay_s < 0:
            raise ValueError(f"replacement delay cannot be negative, got {replacement_delay_s}")
        self._rng = random.Random(seed)
        self._delay_s = replacement_delay_s
        self._out_until: dict[tuple[str, int], float] = {}
        self.interruptions = 0

    def out(self, slot: tuple[str, int], bucket: int, start_s: float, duration_s: float) -> bool:
        """Whether the spot replica in `slot`, running through [start, start + duration), is out for any of
        it: still being replaced after an earlier reclaim, or reclaimed within the window."""
        out = self._out_until.get(slot, -math.inf) > start_s
        rate_per_s = hourly_interruption_rate(bucket) / HOUR_S
        if self._rng.random() < -math.expm1(-rate_per_s * duration_s):
            self.interruptions += 1
            at = start_s + self._rng.random() * duration_s
            self._out_until[slot] = max(self._out_until.get(slot, -math.inf), at + self._delay_s)
            out = True
        return out


@dataclass(frozen=True)
class PlanReplayResult:
    """How a plan served the replayed windows; `worst_ttft_p95_s` is infinite when some window saturated."""

    slo_attainment: float
    windows: int
    windows_met: int
    interruptions: int
    worst_ttft_p95_s: float
    failure_reason: str | None = None

    def passes(self, min_slo_attainment: float = DEFAULT_MIN_SLO_ATTAINMENT) -> bool:
        return self.slo_attainment >= min_slo_attainment


@dataclass
class _Replay:
    spec: WorkloadTwinSpec
    interruptions: SpotInterruptions
    truth: TruthSource = TruthSource.SILICON
    configs: dict[str, ServingConfig] = field(default_factory=dict)
    worst_ttft: float = 0.0
    failure_reason: str | None = None

    def window_met(self, window: RateWindow, replicas: Sequence[HourReplicas]) -> bool:
        serving = [(group, self._serving(group, window)) for group in replicas]
        total_capacity = sum(group.capacity_rps * count for group, count in serving)
        if window.rate_rps <= 0:
            return True
        if total_capacity <= 0:
            self.worst_ttft = math.inf
            self.failure_reason = self.failure_reason or "no replicas serving in some window"
            return False
        met = True
        for group, count in serving:
            if not count:
                continue
            share = window.rate_rps * group.capacity_rps / total_capacity
            modelled = model_window(
                self._config(group.instance_type),
                group.instance_type,
                self.spec.replica_load(share),
                window.duration_s,
                self.truth,
            )
            self.worst_ttft = max(self.worst_ttft, modelled.performance.ttft_p95_s)
            if not modelled.meets(self.spec.slo.ttft_p95_s, self.spec.slo.itl_p95_s):
                met = False
                if self.failure_reason is None:
                    self.failure_reason = (
                        f"{group.instance_type.name} at {share:.2f} rps per replica misses the SLO "
                        f"({modelled.performance.reason or 'latency above the objective'})"
                    )
        return met

    def _serving(self, group: HourReplicas, window: RateWindow) -> int:
        """Replicas of the group serving through the window: all steady ones, the spot ones not out."""
        if not group.spot:
            return group.steady
        bucket = group.instance_type.spot_interruption_bucket
        assert bucket is not None  # HourReplicas refuses spot replicas without a bucket
        name = group.instance_type.name
        out = sum(
            self.interruptions.out((name, index), bucket, window.start_s, window.duration_s)
            for index in range(group.spot)
        )
        return group.steady + group.spot - out

    def _config(self, instance_type: InstanceType) -> ServingConfig:
        found = self.configs.get(instance_type.name)
        if found is None:
            found = config_for_instance(instance_type, capacity_model_for(self.spec.workload.model_name))
            self.configs[instance_type.name] = found
        return found


def replay_plan(
    spec: WorkloadTwinSpec,
    fleet_by_hour: Sequence[Sequence[HourReplicas]],
    windows: Sequence[RateWindow],
    *,
    seed: int,
    replacement_delay_s: float = DEFAULT_REPLACEMENT_DELAY_S,
    truth: TruthSource = TruthSource.SILICON,
) -> PlanReplayResult:
    """Replay `windows` (seconds from midnight UTC of day 0) against the replicas `fleet_by_hour` gives for
    each hour of the day, with the workload's token mix and SLO from `spec`; `truth` is what the replicas'
    behaviour comes from (NVIDIA's measured reference where it covers the GPU, or the roofline)."""
    if len(fleet_by_hour) != HOURS_PER_DAY:
        raise ValueError(
            f"a plan gives replicas for {HOURS_PER_DAY} hours of the day, got {len(fleet_by_hour)}"
        )
    if not windows:
        raise ValueError("a plan replay needs at least one window of traffic")
    replay = _Replay(spec, SpotInterruptions(seed, replacement_delay_s), truth)
    met = 0
    for window in sorted(windows, key=lambda w: w.start_s):
        hour = int((window.start_s % DAY_S) // HOUR_S) % HOURS_PER_DAY
        met += replay.window_met(window, fleet_by_hour[hour])
    return PlanReplayResult(
        slo_attainment=met / len(windows),
        windows=len(windows),
        windows_met=met,
        interruptions=replay.interruptions.interruptions,
        worst_ttft_p95_s=replay.worst_ttft,
        failure_reason=replay.failure_reason,
    )
