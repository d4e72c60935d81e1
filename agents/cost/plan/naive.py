"""The hand right-sizing the plan bench compares with: the current type, all on-demand, sized for the peak.
The agent's plan is the live Cost agent's (`optiinfra.bench.live_cost`)."""

from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.plan.model import TypeAllocation, WorkloadPlan
from agents.cost.sizing import TypeCapacity, replicas_needed


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
