"""Fleet plans over a typical day and the rules every plan must keep, as the plan bench prices
and checks them (its optimum is in `optiinfra.bench.plan_optimal`, the live agent's plan in
`optiinfra.bench.live_cost`)."""

from agents.cost.plan.demand import WorkloadDemand, hourly_profile, reservations_allowed
from agents.cost.plan.model import TypeAllocation, WorkloadPlan, current_fleet_plan
from agents.cost.plan.naive import naive_plan

__all__ = [
    "TypeAllocation",
    "WorkloadDemand",
    "WorkloadPlan",
    "current_fleet_plan",
    "hourly_profile",
    "naive_plan",
    "reservations_allowed",
]
