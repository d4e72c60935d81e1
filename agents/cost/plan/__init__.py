"""Fleet plans over a typical day: the agent's heuristic plan and the rules every plan must keep (the optimum
it is measured against is the bench's, in `optiinfra.bench.plan_optimal`)."""

from agents.cost.plan.demand import WorkloadDemand, hourly_profile, reservations_allowed
from agents.cost.plan.heuristic import agent_plan, floor_and_spot_plan, naive_plan, strategies_on_type
from agents.cost.plan.model import TypeAllocation, WorkloadPlan, current_fleet_plan

__all__ = [
    "TypeAllocation",
    "WorkloadDemand",
    "WorkloadPlan",
    "agent_plan",
    "current_fleet_plan",
    "floor_and_spot_plan",
    "hourly_profile",
    "naive_plan",
    "reservations_allowed",
    "strategies_on_type",
]
