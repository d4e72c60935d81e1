"""The live Cost agent as the plan bench's planner: a person who approves every proposal it makes.

At the end of week 1 the workload's snapshot is built from what the live agent's collectors would hand it,
`analyze_cost` runs, its first-ranked proposal is taken as approved and its effect applied to the bench
fleet, and the agent scans again, until it proposes nothing. The fleet it leaves is the agent's plan; it is
priced by the plan model and replayed against week 2. Nothing of the decision is the bench's own.

What the snapshot holds, as the collectors read it from a fleet of EC2 replicas (no Deployment):
- instances: the replicas, spread round-robin over the workload's zones (one subnet each); in a mixed
  group the on-demand base and spot replicas above it;
- vLLM windows: the last day of week 1 in ten-minute windows (request rate, token counts, the token mix's
  p95 and p99 prompt), and week 1's request rate on the ten-minute grid;
- utilization, hourly over week 1 per replica: GPU utilization is the replica's share of the load over what
  it serves within the objective (capped at 100%), GPU memory 60% (the weights and the KV blocks in use),
  CPU two busy vCPUs (API server, scheduler, tokenizer), host memory the weights plus 8 GiB; the twin models
  none of the last three, and only the same-GPU fallback of right-sizing reads GPU utilization;
- usage (the billing view the reserved strategy reads): the fleet as it stands over the workload's history,
  up to 90 days: the baseline a reservation is sized on once the approved changes have run that long."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from agents.cost.autoscaling import AutoscalingParams, AutoscalingPlan, plan_autoscaling
from agents.cost.commitments import CommitmentPolicy, ReservedOffer, cheapest_allowed_offer
from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.plan.model import TypeAllocation, WorkloadPlan
from agents.cost.reserved import ReservedCapacityParams
from agents.cost.strategies import analyze_cost
from optiinfra.bench.live_agent import EPOCH, RATE_GRID_S, RECENT_S
from optiinfra.capacity.models import capacity_model_for
from optiinfra.domain.enums import PurchaseOption, RecommendationType, UtilizationMetric
from optiinfra.domain.fleet import (
    ActiveReservation,
    Customer,
    Instance,
    InstanceType,
    MetricSeries,
    ScalingGroupState,
    UsageHour,
    WorkloadSnapshot,
)
from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.performance import RequestRateHistory, WorkloadWindow
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.models import DAY_S, HOUR_S, WEEK_S, TokenLengthMix

MAX_USAGE_DAYS = 90.0
MAX_ROUNDS = 8
"""Approve-and-rescan rounds before the bench calls the agent unsettled (each strategy changes the fleet
once and the reservation comes last, so four suffice)."""
GPU_MEMORY_PERCENT = 60.0
BUSY_VCPUS = 2.0
HOST_MEMORY_SPARE_GIB = 8.0
DEFAULT_COOLDOWN_S = 300
ON_DEMAND_CHANGES = frozenset({RecommendationType.RIGHT_SIZING, RecommendationType.AUTOSCALING_POLICY})
"""What an operator who buys on-demand capacity only approves: no spot group, no reservation."""


@dataclass(frozen=True)
class BenchTraffic:
    """What the collectors saw of the workload in week 1: its windows (seconds from midnight of day 0) and
    request lengths."""

    week1: list[RateWindow]
    token_mix: TokenLengthMix
    history_days: float


@dataclass(frozen=True)
class LiveFleet:
    """The workload's replicas as the approved proposals left them."""

    instance_type: InstanceType
    replicas: int
    zones: int
    on_demand_base: int | None = None
    """None: plain on-demand instances; else the mixed group's on-demand base."""
    group_types: tuple[str, ...] = ()
    scaling: AutoscalingPlan | None = None
    reserved: int = 0
    reservation: ReservedOffer | None = None
    approved: tuple[str, ...] = field(default=())

    def hourly_replicas(self) -> list[int]:
        """Replicas in each hour of the day: the group's size for the hour's need under its policy, else
        the fixed count."""
        if self.scaling is None:
            return [self.replicas] * HOURS_PER_DAY
        return self.scaling.replicas_by_hour

    def on_demand(self, replicas: int) -> int:
        """Of `replicas` in the group, those on-demand: the base first, spot above it."""
        return replicas if self.on_demand_base is None else min(self.on_demand_base, replicas)

    def plan(self, capacity_rps: float) -> WorkloadPlan:
        """The fleet as a plan: reserved replicas run every hour, the rest of the on-demand base on-demand,
        the group's replicas above it on spot."""
        counts = self.hourly_replicas()
        steady = [self.on_demand(n) for n in counts]
        allocation = TypeAllocation(
            instance_type=self.instance_type,
            capacity_rps=capacity_rps,
            reserved=self.reserved,
            reservation=self.reservation if self.reserved else None,
            on_demand=tuple(max(0, s - self.reserved) for s in steady),
            spot=tuple(n - s for n, s in zip(counts, steady, strict=True)),
        )
        return WorkloadPlan(strategy="agent", allocations=(allocation,))


@dataclass(frozen=True)
class LiveCostOutcome:
    """The fleet the approvals left, and the agent's notes on its last scan (why nothing more)."""

    fleet: LiveFleet
    notes: list[str]


class LiveCostAgent:
    """Builds the snapshots and applies the approved proposals for one bench workload."""

    def __init__(
        self,
        demand: WorkloadDemand,
        catalog_types: list[InstanceType],
        traffic: BenchTraffic,
        policy: CommitmentPolicy,
        capacities: dict[str, float],
    ) -> None:
        """`capacities`: requests/s one replica of each type serves within the objective (what the GPU
        utilization the collectors report is read against)."""
        self._workload = demand.workload.model_copy(
            update={
                "slo_ttft_p95_s": demand.shape.ttft_p95_slo_s,
                "slo_itl_p95_s": demand.shape.itl_p95_slo_s,
            }
        )
        self._types = {t.name: t for t in catalog_types}
        self._traffic = traffic
        self._policy = policy
        self._capacities = capacities
        self._end_s = max(w.end_s for w in traffic.week1)
        self._windows = _grid_windows(traffic)
        self._rate_history = RequestRateHistory(
            start=self._windows[0].start,
            interval_seconds=RATE_GRID_S,
            values=[w.request_rate for w in self._windows],
        )
        self._hourly_rps = _hourly_rates(traffic.week1, self._end_s)
        self._weights_gib = capacity_model_for(self._workload.model_name).weight_bytes / 2**30

    def run(
        self, fleet: LiveFleet, approvable: frozenset[RecommendationType] | None = None
    ) -> LiveCostOutcome:
        """Scan, approve the first-ranked proposal, apply it; again until nothing is proposed. With
        `approvable`, the person approves only proposals of those kinds (the first-ranked of them) and
        declines the rest: an on-demand-only operator approves right-sizing and autoscaling, never spot or
        a reservation."""
        for _ in range(MAX_ROUNDS):
            snapshot = self.snapshot(fleet)
            result = analyze_cost(snapshot, reserved=ReservedCapacityParams(policy=self._policy))
            allowed = [p for p in result.proposals if approvable is None or p.type in approvable]
            if not allowed:
                return LiveCostOutcome(fleet, result.notes)
            first = allowed[0]
            fleet = self._apply(fleet, snapshot, first.type, first.evidence)
        raise RuntimeError(f"the Cost agent kept proposing after {MAX_ROUNDS} approvals: {fleet.approved}")

    def _apply(
        self,
        fleet: LiveFleet,
        snapshot: WorkloadSnapshot,
        kind: RecommendationType,
        evidence: dict[str, float | str],
    ) -> LiveFleet:
        approved = (*fleet.approved, kind.value)
        if fleet.reserved and kind is not RecommendationType.RESERVED_CAPACITY:
            raise RuntimeError(f"the Cost agent changed a reserved fleet ({kind.value})")
        if kind is RecommendationType.RIGHT_SIZING:
            return LiveFleet(
                instance_type=self._types[str(evidence["to_type"])],
                replicas=int(evidence.get("replicas_to", fleet.replicas)),
                zones=fleet.zones,
                approved=approved,
            )
        if kind is RecommendationType.SPOT_MIGRATION:
            return replace(
                fleet,
                on_demand_base=int(evidence["on_demand_floor"]),
                group_types=tuple(str(evidence["instance_types"]).split(",")),
                approved=approved,
            )
        if kind is RecommendationType.AUTOSCALING_POLICY:
            plan = plan_autoscaling(snapshot, AutoscalingParams())
            if isinstance(plan, str):
                raise RuntimeError(f"an approved autoscaling proposal has no plan: {plan}")
            return replace(fleet, scaling=plan, approved=approved)
        if kind is RecommendationType.RESERVED_CAPACITY:
            name = fleet.instance_type.name
            count = int(evidence[f"{name}_reserved"])
            offer = cheapest_allowed_offer(fleet.instance_type, self._policy)
            if offer is None or offer.key != evidence[f"{name}_offer"]:
                raise RuntimeError(f"the reservation proposed for {name} is not the policy's cheapest offer")
            return replace(fleet, reserved=fleet.reserved + count, reservation=offer, approved=approved)
        raise RuntimeError(f"the Cost agent proposed a {kind.value}, which the plan bench does not model")

    # --- the snapshot the collectors would hand the agent --------------------------------------------

    def snapshot(self, fleet: LiveFleet) -> WorkloadSnapshot:
        now = EPOCH + timedelta(seconds=self._end_s)
        instances = self._instances(fleet)
        group = self._group(fleet, instances)
        return WorkloadSnapshot(
            customer=Customer(customer_id="bench", name="bench"),
            workload=self._workload,
            instances=instances,
            instance_types=self._types,
            candidate_types=list(self._types.values()),
            series=self._series(fleet, instances, now),
            collected_at=now,
            scaling_group=group,
            usage=self._usage(fleet, now),
            reservations=(
                [
                    ActiveReservation(
                        reservation_id="r-bench",
                        instance_type=fleet.instance_type.name,
                        instance_count=fleet.reserved,
                    )
                ]
                if fleet.reserved
                else []
            ),
            windows=self._recent(fleet, now),
            request_rate=self._rate_history,
        )

    def _recent(self, fleet: LiveFleet, now: datetime) -> list[WorkloadWindow]:
        """The last day's windows, each with the replicas that reported in it."""
        counts = fleet.hourly_replicas()
        return [
            w.model_copy(update={"replicas": counts[w.start.hour]})
            for w in self._windows
            if w.start >= now - timedelta(seconds=RECENT_S)
        ]

    def _instances(self, fleet: LiveFleet) -> list[Instance]:
        count = fleet.hourly_replicas()[int(self._end_s % DAY_S // HOUR_S)]
        base = fleet.on_demand(count)
        region = fleet.instance_type.region
        return [
            Instance(
                instance_id=f"i-{self._workload.workload_id}-{n:03d}",
                instance_type=fleet.instance_type.name,
                lifecycle=PurchaseOption.ON_DEMAND if n < base else PurchaseOption.SPOT,
                state="running",
                image_id="ami-vllm",
                subnet_id=f"subnet-{n % fleet.zones}",
                availability_zone=f"{region}{'abcdef'[n % fleet.zones]}",
            )
            for n in range(count)
        ]

    def _group(self, fleet: LiveFleet, instances: list[Instance]) -> ScalingGroupState | None:
        if fleet.on_demand_base is None:
            return None
        scaling = fleet.scaling
        return ScalingGroupState(
            name=f"optiinfra-bench-{self._workload.workload_id}-spot",
            min_size=scaling.min_size if scaling else len(instances),
            max_size=scaling.max_size if scaling else len(instances),
            desired_capacity=len(instances),
            default_cooldown=scaling.default_cooldown if scaling else DEFAULT_COOLDOWN_S,
            instance_ids=[i.instance_id for i in instances],
            policies=[scaling.policy] if scaling else [],
            on_demand_base_capacity=fleet.on_demand_base,
            spot_instance_types=list(fleet.group_types),
            capacity_rebalance=True,
            in_service=len(instances),
        )

    def _series(self, fleet: LiveFleet, instances: list[Instance], now: datetime) -> list[MetricSeries]:
        it = fleet.instance_type
        counts = fleet.hourly_replicas()
        start = now - timedelta(seconds=HOUR_S * len(self._hourly_rps))
        capacity = self._capacity(fleet)
        gpu = [
            min(100.0, 100.0 * rate / (counts[(start + timedelta(hours=h)).hour] * capacity))
            for h, rate in enumerate(self._hourly_rps)
        ]
        steady = {
            UtilizationMetric.GPU_UTILIZATION: gpu,
            UtilizationMetric.GPU_MEMORY_UTILIZATION: [GPU_MEMORY_PERCENT] * len(gpu),
            UtilizationMetric.CPU_UTILIZATION: [min(100.0, 100.0 * BUSY_VCPUS / it.vcpu)] * len(gpu),
            UtilizationMetric.MEMORY_UTILIZATION: [
                min(100.0, 100.0 * (self._weights_gib + HOST_MEMORY_SPARE_GIB) / it.memory_gib)
            ]
            * len(gpu),
        }
        return [
            MetricSeries(
                instance_id=i.instance_id,
                metric=metric,
                start=start,
                period_seconds=int(HOUR_S),
                values=values,
            )
            for i in instances
            for metric, values in steady.items()
        ]

    def _capacity(self, fleet: LiveFleet) -> float:
        """Per replica; a type that serves nothing within the objective reads fully busy."""
        return self._capacities.get(fleet.instance_type.name, 0.0) or 1e-9

    def _usage(self, fleet: LiveFleet, now: datetime) -> list[UsageHour]:
        days = min(self._traffic.history_days, MAX_USAGE_DAYS)
        hours = int(days * 24)
        counts = fleet.hourly_replicas()
        first = now - timedelta(hours=hours)
        rows: list[UsageHour] = []
        for h in range(hours):
            hour = first + timedelta(hours=h)
            rows.append(
                UsageHour(
                    hour=hour,
                    instance_type=fleet.instance_type.name,
                    lifecycle=PurchaseOption.ON_DEMAND,
                    instances=fleet.on_demand(counts[hour.hour]),
                )
            )
        return rows


def _grid_windows(traffic: BenchTraffic) -> list[WorkloadWindow]:
    """Week 1 as the metrics store reads it back: one window per ten minutes, all replicas together (how
    many replicas reported is the fleet's, filled in per snapshot)."""
    mix = traffic.token_mix
    prompts = sorted(prompt for prompt, _ in mix.pairs)
    p95, p99 = float(nearest_rank(prompts, 0.95)), float(nearest_rank(prompts, 0.99))
    windows = []
    for w in sorted(traffic.week1, key=lambda w: w.start_s):
        requests = w.rate_rps * w.duration_s
        windows.append(
            WorkloadWindow(
                start=EPOCH + timedelta(seconds=w.start_s),
                seconds=w.duration_s,
                replicas=0,
                requests=requests,
                request_rate=w.rate_rps,
                prompt_tokens=requests * mix.mean_prompt_tokens,
                generation_tokens=requests * mix.mean_output_tokens,
                errors=0.0,
                preemptions=0.0,
                prompt_tokens_p95=p95 if requests > 0 else None,
                prompt_tokens_p99=p99 if requests > 0 else None,
            )
        )
    return windows


def _hourly_rates(windows: list[RateWindow], end_s: float) -> list[float]:
    """Week 1's mean request rate per clock hour, oldest first, ending at `end_s`."""
    first = end_s - WEEK_S
    sums = [0.0] * (7 * 24)
    seconds = [0.0] * (7 * 24)
    for w in windows:
        index = int((w.start_s - first) // HOUR_S)
        if 0 <= index < len(sums):
            sums[index] += w.rate_rps * w.duration_s
            seconds[index] += w.duration_s
    return [s / d if d > 0 else 0.0 for s, d in zip(sums, seconds, strict=True)]
