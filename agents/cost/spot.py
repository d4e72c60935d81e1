"""Spot migration: move a stateless workload's replicas into an Auto Scaling group that keeps an on-demand
base and runs the rest on spot, replacing reclaimed instances.

One-time spot instances are never replaced: each reclaim lowers the fleet for good. The group is the
replacement path: a mixed-instances policy over several capacity-equivalent types (same GPU model and
count) in the workload's subnets, price-capacity-optimized, with capacity rebalancing, which launches a
replacement when AWS signals that an instance is at elevated risk, before its two-minute interruption
notice. Its on-demand base is the floor, and the floor is sized so that the on-demand replicas plus the spot
replicas outside the largest correlated pool still carry the workload's peak: the group balances its
instances across Availability Zones, and one zone's pool of a type can be reclaimed at once, so the
largest pool holds the spot replicas of one zone. With every replica in one zone the on-demand base alone
carries the peak.

The peak in replicas comes from what vLLM counted (the p95 of its request rate against what one replica
serves within the objective), else from GPU utilization (the p95 hour's busy replicas, which overstates a
vLLM server's load and so errs towards more on-demand), else it is every replica. Critical workloads may
use spot above that base too: the base alone keeps their objective through a reclaim."""

import math

from pydantic import BaseModel, Field

from agents.cost.pricing import monthly
from agents.cost.retirement import retirement_steps
from agents.cost.rightsizing import peak_busy_gpus, request_shape_for, vllm_peak_rps
from agents.cost.sizing import replica_capacity
from agents.cost.spot_floor import group_spot_price, on_demand_base, replica_zones, spot_eligible_type
from optiinfra.capacity.estimate import CapacityEstimator
from optiinfra.domain.enums import (
    AgentKind,
    RecommendationType,
    RiskLevel,
    StepAction,
)
from optiinfra.domain.fleet import Instance, InstanceType, SpotGroupSpec, WorkloadSnapshot
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, Proposal

# AWS Spot Advisor buckets: 0 <5%, 1 5-10%, 2 10-15%, 3 15-20%, 4 >20% monthly interruption frequency.
_INTERRUPTION_RANGE = {0: "<5%", 1: "5-10%", 2: "10-15%", 3: "15-20%", 4: ">20%"}


class SpotMigrationParams(BaseModel):
    max_interruption_bucket: int = Field(default=3, ge=0, le=4)
    min_monthly_savings_usd: float = 50.0
    full_history_hours: float = 14 * 24
    max_instance_types: int = Field(default=3, ge=1, description="Capacity-equivalent types the group uses")


class PeakReplicas(BaseModel):
    """Replicas the workload's peak needs, and how that was read."""

    replicas: int = Field(ge=1)
    source: str


class SpotFloor(BaseModel):
    """How many of the replicas stay on-demand, and why that is enough."""

    replicas: int
    on_demand: int
    spot: int
    zones: int
    largest_pool: int
    peak: PeakReplicas

    @property
    def after_losing_a_pool(self) -> int:
        return self.replicas - self.largest_pool


def analyze_spot_migration(
    snapshot: WorkloadSnapshot, params: SpotMigrationParams | None = None
) -> Proposal | str:
    """A spot migration proposal, or the reason there is none."""
    params = params or SpotMigrationParams()
    workload = snapshot.workload
    if not workload.stateless:
        return "spot migration: workload keeps state on its instances"
    if snapshot.scaling_group is not None:
        group = snapshot.scaling_group
        if group.mixed:
            return (
                f"spot migration: replicas already run in {group.name}, {group.on_demand_base_capacity} of "
                f"{group.desired_capacity} on-demand, the rest spot"
            )
        return "spot migration: replicas belong to an Auto Scaling group (give it a mixed-instances policy)"
    running = sorted((i for i in snapshot.instances if i.state == "running"), key=lambda i: i.instance_id)
    if not running:
        return "spot migration: no running replica"
    type_names = {i.instance_type for i in running}
    if len(type_names) != 1:
        return "spot migration: replicas are not all of one instance type"
    current = snapshot.instance_types.get(type_names.pop())
    if current is None:
        return "spot migration: the replicas' instance type is not in the price catalog"
    if not spot_eligible_type(current, params.max_interruption_bucket):
        return f"spot migration: spot on {current.name} is not priced, too often interrupted or not cheaper"
    floor = spot_floor(snapshot, running, current)
    if floor.spot == 0:
        return (
            f"spot migration: the peak needs {floor.peak.replicas} of {floor.replicas} replicas "
            f"({floor.peak.source}) and the largest spot pool could take every spot replica of one of "
            f"{floor.zones} zone(s), so all stay on-demand"
        )
    types = group_types(current, snapshot.candidate_types, params)
    return _proposal(snapshot, running, current, types, floor, params)


def peak_replicas(snapshot: WorkloadSnapshot, running: list[Instance], current: InstanceType) -> PeakReplicas:
    """Replicas of `current` the workload's peak needs: from vLLM's request rate and the capacity within
    the objective, else from GPU utilization, else all of them."""
    measured = vllm_peak_rps(snapshot)
    shape = request_shape_for(snapshot)
    if measured is not None and shape is not None:
        estimator = CapacityEstimator(
            profiles=snapshot.capacity_profiles, workload_id=snapshot.workload.workload_id
        )
        capacity = replica_capacity(current, snapshot.workload.model_name, shape, estimator)
        if capacity is not None and capacity.requests_per_s > 0:
            peak = measured.rps
            return PeakReplicas(
                replicas=max(1, math.ceil(peak / capacity.requests_per_s - 1e-9)),
                source=(
                    f"vLLM counted a p95 of {peak:.2f} requests/s; one {current.name} serves "
                    f"{capacity.requests_per_s:.2f} within the objective"
                ),
            )
    busy = peak_busy_gpus(snapshot, running)
    if busy is not None:
        return PeakReplicas(
            replicas=max(1, math.ceil(busy - 1e-9)),
            source=(
                f"at the p95 hour the replicas were {busy:.2f} replicas' worth busy by GPU utilization, "
                "which overstates a vLLM server's load"
            ),
        )
    return PeakReplicas(replicas=len(running), source="no load history: every replica counts")


def spot_floor(snapshot: WorkloadSnapshot, running: list[Instance], current: InstanceType) -> SpotFloor:
    """The fewest on-demand replicas (never below the workload's minimum) such that, with the rest on
    spot spread over the replicas' zones, losing the largest zone's spot replicas leaves the peak served."""
    peak = peak_replicas(snapshot, running, current)
    zones = replica_zones(running)
    replicas = len(running)
    split = on_demand_base(replicas, peak.replicas, zones, snapshot.workload.min_on_demand_instances)
    return SpotFloor(
        replicas=replicas,
        on_demand=split.on_demand,
        spot=split.spot,
        zones=zones,
        largest_pool=split.largest_pool,
        peak=peak,
    )


DEFAULT_DRAIN_SECONDS = 120
"""The two minutes of a spot interruption notice: what a reclaimed replica has in any case."""
MAX_DRAIN_SECONDS = 7200


def drain_seconds(snapshot: WorkloadSnapshot) -> int:
    """How long a terminating replica is held: its longest p99 request (end to end) as vLLM reported it,
    at least the two minutes of an interruption notice."""
    longest = max((w.e2e_p99 for w in snapshot.windows if w.e2e_p99 is not None), default=0.0)
    return min(MAX_DRAIN_SECONDS, max(DEFAULT_DRAIN_SECONDS, math.ceil(longest)))


def group_types(
    current: InstanceType, candidates: list[InstanceType], params: SpotMigrationParams
) -> list[InstanceType]:
    """The current type first, then the cheapest spot-eligible types with the same GPUs and at least its
    host memory (what loads the weights), up to `max_instance_types`: more pools to draw spot from."""
    others = sorted(
        (
            c
            for c in candidates
            if c.name != current.name
            and c.gpu_model == current.gpu_model
            and c.gpu_count == current.gpu_count
            and c.memory_gib >= current.memory_gib
            and spot_eligible_type(c, params.max_interruption_bucket)
        ),
        key=lambda c: (c.spot_hourly_usd or 0.0, c.name),
    )
    return [current, *others][: params.max_instance_types]


def _risk(bucket: int, floor: SpotFloor) -> RiskLevel:
    if bucket >= 3 or floor.on_demand == 0:
        return RiskLevel.HIGH
    return RiskLevel.MEDIUM


def _confidence(snapshot: WorkloadSnapshot, bucket: int, params: SpotMigrationParams) -> float:
    """Savings of spot are near certain; what is uncertain is how often capacity is taken back,
    so confidence falls with the interruption bucket and with thin history."""
    hours = min((len(s.values) * s.period_seconds / 3600 for s in snapshot.series), default=0.0)
    coverage = min(1.0, hours / params.full_history_hours)
    return round(max(0.0, (0.95 - 0.07 * bucket) * (0.5 + 0.5 * coverage)), 3)


def _proposal(
    snapshot: WorkloadSnapshot,
    running: list[Instance],
    current: InstanceType,
    types: list[InstanceType],
    floor: SpotFloor,
    params: SpotMigrationParams,
) -> Proposal | str:
    current_cost = sum(monthly(current.hourly_price(i.lifecycle)) for i in running)
    # The group may draw spot from any of its types: priced at the dearest of them, to be safe.
    spot_hourly = group_spot_price(types)
    assert spot_hourly is not None  # the group's types start with the current one
    projected = monthly(current.on_demand_hourly_usd) * floor.on_demand + monthly(spot_hourly) * floor.spot
    saving = current_cost - projected
    if saving < params.min_monthly_savings_usd:
        bar = params.min_monthly_savings_usd
        return f"spot migration: saving ${saving:.0f}/month is below the ${bar:.0f} bar"
    worst_bucket = max(t.spot_interruption_bucket or 0 for t in types)
    workload = snapshot.workload
    subnets = sorted({i.subnet_id for i in running if i.subnet_id})
    if not subnets:
        return "spot migration: the replicas' subnets are unknown, so no group can be placed"
    spec = SpotGroupSpec(
        name=f"optiinfra-{workload.customer_id}-{workload.workload_id}-spot",
        source_instance_id=running[0].instance_id,
        instance_types=[t.name for t in types],
        subnet_ids=subnets,
        desired_capacity=floor.replicas,
        on_demand_base=floor.on_demand,
        drain_seconds=drain_seconds(snapshot),
    )
    critical = " (and critical: spot only above the base)" if workload.critical else ""
    reasoning = (
        f"{workload.name} is stateless{critical}. Its peak needs {floor.peak.replicas} of its "
        f"{floor.replicas} {current.name} replicas ({floor.peak.source}). An Auto Scaling group keeps "
        f"{floor.on_demand} on-demand as its base and runs {floor.spot} on spot across "
        f"{', '.join(spec.instance_types)} (interrupted "
        f"{_INTERRUPTION_RANGE[worst_bucket]} of the time per month at worst, AWS Spot Advisor) in "
        f"{floor.zones} zone(s), price-capacity-optimized, replacing reclaimed instances and rebalancing "
        f"capacity before interruptions. Losing the largest pool, {floor.largest_pool} spot replica(s) of "
        f"one zone, leaves {floor.after_losing_a_pool} serving, at least the {floor.peak.replicas} the peak "
        "needs, until the group replaces them. A replica the group terminates (rebalanced once its "
        f"replacement serves, or scaled in) is held {spec.drain_seconds}s so its in-flight requests finish "
        "(a reclaim leaves the two minutes of its interruption notice). The group's instances are in "
        "service before any old replica stops; "
        f"the old ones are terminated only after verification, and a rollback deletes the group and starts "
        f"them again. Spot is priced at the dearest of the group's types."
    )
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        title=(
            f"Run {workload.workload_id} in a spot group: {floor.on_demand} on-demand base, {floor.spot} spot"
        ),
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(current_cost, 2),
        projected_monthly_cost_usd=round(projected, 2),
        confidence=_confidence(snapshot, worst_bucket, params),
        risk_level=_risk(worst_bucket, floor),
        steps=_steps(spec, running),
        evidence={
            "interruption_bucket": float(worst_bucket),
            "on_demand_floor": float(floor.on_demand),
            "spot_replicas": float(floor.spot),
            "peak_replicas": float(floor.peak.replicas),
            "zones": float(floor.zones),
            "largest_spot_pool": float(floor.largest_pool),
            "group": spec.name,
            "instance_types": ",".join(spec.instance_types),
        },
    )


def _steps(spec: SpotGroupSpec, running: list[Instance]) -> list[ExecutionStep]:
    create = ExecutionStep(
        step_id="create-spot-group",
        action=StepAction.CREATE_SPOT_GROUP,
        target=spec.name,
        params={"group": spec.model_dump_json()},
        description=(
            f"Create {spec.name} ({spec.on_demand_base} on-demand, "
            f"{spec.desired_capacity - spec.on_demand_base} spot) and wait until its instances are in service"
        ),
        compensation=CompensationStep(
            action=StepAction.DELETE_SPOT_GROUP,
            target=spec.name,
            description=f"Delete {spec.name} and its instances",
        ),
    )
    stops: list[ExecutionStep] = []
    terminations: list[ExecutionStep] = []
    for n, instance in enumerate(running, start=1):
        stop, terminate = retirement_steps(instance.instance_id, n, spec.name)
        stops.append(stop)
        terminations.append(terminate)
    return [create, *stops, *terminations]
