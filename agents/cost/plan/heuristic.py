"""The plan the Cost agent's strategies arrive at when composed, and the hand right-sizing it is compared
with. No search over hour-by-hour mixes of types: each strategy makes its own local decision, as on a live
fleet, and the type choice weighs the whole plan those decisions lead to.

- autoscaling runs `replicas_needed` replicas for each hour's forecast;
- spot migration moves the replicas above the on-demand floor to spot, where the workload and type allow;
- reserved capacity reserves the non-spot replicas that run in every hour, with the cheapest offer the
  customer's commitment policy allows, when that is cheaper than on-demand;
- right-sizing picks the type. Picking it by on-demand cost at the peak (`cheapest_sizing`) ignores what
  the other strategies then save on each type: a type whose spot capacity is scarce, or whose reservation
  is dear, can be cheapest on-demand and far from cheapest once they have run. So every candidate is priced
  with the other strategies applied and the cheapest whole plan is kept. Spot migration may likewise
  replace replicas with a different type's spot capacity (the spot type with the cheapest capacity, not
  necessarily the type the on-demand floor runs on)."""

import math
from collections.abc import Sequence

from agents.cost.commitments import CommitmentPolicy, ReservedOffer, cheapest_allowed_offer
from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.plan.model import TypeAllocation, WorkloadPlan
from agents.cost.sizing import TypeCapacity, replicas_needed
from agents.cost.spot import spot_eligible_type
from optiinfra.domain.fleet import Workload


def on_demand_floor(replicas: int, workload: Workload, fraction: float) -> int:
    """Replicas of `replicas` a plan keeps on-demand: the workload's own minimum, and at least `fraction`
    of them rounded up."""
    return max(workload.min_on_demand_instances, math.ceil(replicas * fraction))


_EPSILON = 1e-9
"""Slack on replica counts computed from float capacities, as `replicas_needed` allows."""


def agent_plan(
    demand: WorkloadDemand, capacities: Sequence[TypeCapacity], policy: CommitmentPolicy
) -> WorkloadPlan:
    """The cheapest of the plans the strategies compose to over the candidate types: each type with every
    strategy applied to it, and, where spot is allowed, each on-demand floor type with each spot type.
    Ties keep the earlier candidate, so the answer is stable."""
    if not capacities:
        raise ValueError(f"no candidate type serves {demand.workload.model_name} within its SLO")
    plans = [strategies_on_type(demand, choice, policy) for choice in capacities]
    if demand.spot_allowed:
        spot_types = [
            c for c in capacities if spot_eligible_type(c.instance_type, demand.max_interruption_bucket)
        ]
        plans += [
            floor_and_spot_plan(demand, steady, spot, policy)
            for steady in capacities
            for spot in spot_types
            if spot.instance_type.name != steady.instance_type.name
        ]
    return min(plans, key=lambda plan: round(plan.monthly_cost_usd, 6))


def strategies_on_type(
    demand: WorkloadDemand, choice: TypeCapacity, policy: CommitmentPolicy
) -> WorkloadPlan:
    """Autoscaling, spot migration and reserved capacity applied, in that order, to a fleet of one type."""
    instance_type, capacity = choice.instance_type, choice.capacity_rps
    workload = demand.workload
    spot_ok = demand.spot_allowed and spot_eligible_type(instance_type, demand.max_interruption_bucket)
    steady: list[int] = []
    spot: list[int] = []
    for hour in range(HOURS_PER_DAY):
        total = max(
            replicas_needed(demand.hourly_rps[hour], capacity, demand.headroom),
            workload.min_on_demand_instances,
        )
        floor = on_demand_floor(total, workload, demand.on_demand_floor_fraction)
        keep = min(total, floor) if spot_ok else total
        steady.append(keep)
        spot.append(total - keep)
    reserved, offer = _reserve_baseline(demand, choice, steady, policy)
    allocation = TypeAllocation(
        instance_type=instance_type,
        capacity_rps=capacity,
        reserved=reserved,
        reservation=offer,
        on_demand=tuple(count - reserved for count in steady),
        spot=tuple(spot),
    )
    return WorkloadPlan(strategy="agent", allocations=(allocation,))


def floor_and_spot_plan(
    demand: WorkloadDemand, steady: TypeCapacity, spot: TypeCapacity, policy: CommitmentPolicy
) -> WorkloadPlan:
    """The on-demand floor (the floor share of each hour's capacity, at least the workload's minimum) on
    `steady`, reserved where it runs all day; the rest of the hour's capacity on `spot` spot replicas."""
    if not (demand.spot_allowed and spot_eligible_type(spot.instance_type, demand.max_interruption_bucket)):
        raise ValueError(f"{demand.workload.workload_id} may not run spot {spot.instance_type.name} replicas")
    steady_counts: list[int] = []
    spot_counts: list[int] = []
    for hour in range(HOURS_PER_DAY):
        required = demand.required_rps(hour)
        floor = max(
            _covering(demand.on_demand_floor_fraction * required, steady.capacity_rps),
            demand.workload.min_on_demand_instances,
        )
        steady_counts.append(floor)
        spot_counts.append(_covering(required - floor * steady.capacity_rps, spot.capacity_rps))
    reserved, offer = _reserve_baseline(demand, steady, steady_counts, policy)
    allocations = (
        TypeAllocation(
            instance_type=steady.instance_type,
            capacity_rps=steady.capacity_rps,
            reserved=reserved,
            reservation=offer,
            on_demand=tuple(count - reserved for count in steady_counts),
        ),
        TypeAllocation(
            instance_type=spot.instance_type, capacity_rps=spot.capacity_rps, spot=tuple(spot_counts)
        ),
    )
    return WorkloadPlan(strategy="agent", allocations=allocations)


def naive_plan(demand: WorkloadDemand, current: TypeCapacity) -> WorkloadPlan:
    """A person right-sizing by hand: the current type, all on-demand, as many replicas as the peak needs
    with headroom, every hour."""
    count = max(
        replicas_needed(demand.peak_rps, current.capacity_rps, demand.headroom),
        demand.workload.min_on_demand_instances,
    )
    allocation = TypeAllocation(
        instance_type=current.instance_type,
        capacity_rps=current.capacity_rps,
        on_demand=(count,) * HOURS_PER_DAY,
    )
    return WorkloadPlan(strategy="naive", allocations=(allocation,))


def _covering(required_rps: float, capacity_rps: float) -> int:
    """Replicas whose capacity reaches `required_rps` (none for no requirement)."""
    if required_rps <= 0:
        return 0
    return max(0, math.ceil(required_rps / capacity_rps - _EPSILON))


def _reserve_baseline(
    demand: WorkloadDemand, choice: TypeCapacity, steady: Sequence[int], policy: CommitmentPolicy
) -> tuple[int, ReservedOffer | None]:
    """The non-spot replicas running in every hour, reserved with the cheapest allowed offer when
    reservations are allowed and the offer costs less than on-demand."""
    if not demand.reservations_allowed:
        return 0, None
    offer = cheapest_allowed_offer(choice.instance_type, policy)
    if offer is None or offer.effective_hourly_usd >= choice.instance_type.on_demand_hourly_usd:
        return 0, None
    baseline = min(steady)
    return (baseline, offer) if baseline else (0, None)
