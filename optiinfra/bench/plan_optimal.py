"""The cheapest plan there is under the same rules as the agent's: an integer program over every candidate
type, solved by HiGHS through `scipy.optimize.milp` (as AIBrix's GPU optimizer does for its GPU mix).

Variables, per candidate type t and hour of day h: reserved_t (when a reservation may be bought and is
offered), on_demand_t,h, and spot_t,h (when the workload and the type allow spot). Minimise the monthly
cost subject to, every hour: capacity >= demand with headroom; capacity less one zone's share of the spot
replicas (the largest pool a reclaim takes at once) >= the forecast; non-spot replicas >= the workload's
minimum.

Candidates are pruned only where the pruning cannot lose the optimum: a type is dropped when another type
carries at least as much per replica and costs no more per replica under every purchase option the dropped
one has, so swapping replica for replica never raises cost or breaks a rule."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from agents.cost.commitments import CommitmentPolicy, ReservedOffer, cheapest_allowed_offer
from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.plan.model import HOURS_PER_MONTH_PER_HOUR_OF_DAY, TypeAllocation, WorkloadPlan
from agents.cost.pricing import HOURS_PER_MONTH
from agents.cost.sizing import TypeCapacity
from agents.cost.spot_floor import spot_eligible_type

DEFAULT_TIME_LIMIT_S = 30.0
_SOLVED = 0


class PlanInfeasibleError(ValueError):
    """No plan meets the demand's rules with the candidate types."""


@dataclass(frozen=True)
class OptimalPlan:
    """The solver's plan. When a time or node limit stops the search first, `plan` is the best found,
    `lower_bound_usd` what no plan can beat, and `mip_gap` the relative distance between them."""

    plan: WorkloadPlan
    lower_bound_usd: float
    mip_gap: float
    proven_optimal: bool
    candidate_types: int


@dataclass(frozen=True)
class _Option:
    """One candidate type with the purchase options the demand lets it use."""

    choice: TypeCapacity
    reservation: ReservedOffer | None
    spot_hourly_usd: float | None

    @property
    def capacity(self) -> float:
        return self.choice.capacity_rps

    @property
    def on_demand_hourly_usd(self) -> float:
        return self.choice.instance_type.on_demand_hourly_usd

    def dominated_by(self, other: "_Option") -> bool:
        """`other` replaces this type replica for replica at no more cost under every option this has;
        exact ties are broken by name so that one of two identical types survives."""
        if other.capacity < self.capacity or other.on_demand_hourly_usd > self.on_demand_hourly_usd:
            return False
        prices = [(self.on_demand_hourly_usd, other.on_demand_hourly_usd)]
        if self.spot_hourly_usd is not None:
            if other.spot_hourly_usd is None or other.spot_hourly_usd > self.spot_hourly_usd:
                return False
            prices.append((self.spot_hourly_usd, other.spot_hourly_usd))
        if self.reservation is not None:
            other_offer = other.reservation
            if (
                other_offer is None
                or other_offer.effective_hourly_usd > self.reservation.effective_hourly_usd
            ):
                return False
            prices.append((self.reservation.effective_hourly_usd, other_offer.effective_hourly_usd))
        strictly = other.capacity > self.capacity or any(theirs < ours for ours, theirs in prices)
        return strictly or other.choice.instance_type.name < self.choice.instance_type.name


def optimal_plan(
    demand: WorkloadDemand,
    capacities: Sequence[TypeCapacity],
    policy: CommitmentPolicy,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    node_limit: int | None = None,
    on_demand_only: bool = False,
) -> OptimalPlan:
    """Solve the integer program; PlanInfeasibleError when no plan exists (no candidate serves the model)
    or the solver finds none within its limits. A `node_limit` stops the search at the same point on any
    machine (a time limit does not), for figures that must be reproducible. `on_demand_only`: neither spot
    nor reservations, whatever the demand allows (what a planner that buys nothing else is compared with)."""
    options = _candidates(demand, capacities, policy, on_demand_only=on_demand_only)
    if not options:
        raise PlanInfeasibleError(
            f"no candidate type serves {demand.workload.model_name} within its SLO "
            f"in {demand.workload.region}"
        )
    program = _Program(demand, options)
    result = milp(
        c=program.cost,
        integrality=np.ones_like(program.cost),
        bounds=Bounds(np.zeros_like(program.upper), program.upper),
        constraints=program.constraints(),
        options={
            "time_limit": time_limit_s,
            "mip_rel_gap": 0.0,
            "disp": False,
            **({"node_limit": node_limit} if node_limit is not None else {}),
        },
    )
    if result.x is None:
        raise PlanInfeasibleError(
            f"no plan for {demand.workload.workload_id} meets its demand and rules: {result.message}"
        )
    plan = program.plan([round(float(value)) for value in result.x])
    broken = plan.violations(demand)
    if broken:
        # A stopped search hands back its incumbent whatever the reason it stopped; never pass on one
        # that rounding or the solver's tolerances left infeasible.
        raise PlanInfeasibleError(f"the solver's plan for {demand.workload.workload_id} breaks: {broken[0]}")
    solved = result.status == _SOLVED
    if solved:
        bound = plan.monthly_cost_usd
    else:
        bound = float(result.mip_dual_bound) if result.mip_dual_bound is not None else 0.0
    return OptimalPlan(
        plan=plan,
        lower_bound_usd=min(bound, plan.monthly_cost_usd),
        mip_gap=0.0 if solved else float(result.mip_gap),
        proven_optimal=solved,
        candidate_types=len(options),
    )


def on_demand_candidates(demand: WorkloadDemand, capacities: Sequence[TypeCapacity]) -> list[TypeCapacity]:
    """The types an on-demand plan of `demand` can need, in their given order: those serving it in its
    region that no other type matches on capacity and on-demand price with one of them strictly better
    (exact ties keep the first name)."""
    options = _candidates(demand, capacities, CommitmentPolicy(), on_demand_only=True)
    return [option.choice for option in options]


def _candidates(
    demand: WorkloadDemand,
    capacities: Sequence[TypeCapacity],
    policy: CommitmentPolicy,
    *,
    on_demand_only: bool = False,
) -> list[_Option]:
    options = []
    for choice in capacities:
        if not choice.capacity_rps > 0 or choice.instance_type.region != demand.workload.region:
            continue
        instance_type = choice.instance_type
        reservations = demand.reservations_allowed and not on_demand_only
        offer = cheapest_allowed_offer(instance_type, policy) if reservations else None
        spot_ok = (
            demand.spot_allowed
            and not on_demand_only
            and spot_eligible_type(instance_type, demand.max_interruption_bucket)
        )
        options.append(_Option(choice, offer, instance_type.spot_hourly_usd if spot_ok else None))
    return [
        option
        for option in options
        if not any(other is not option and option.dominated_by(other) for other in options)
    ]


class _Program:
    """The integer program's arrays; variables are laid out type by type: [reserved], on-demand x 24,
    [spot x 24]."""

    def __init__(self, demand: WorkloadDemand, options: list[_Option]) -> None:
        self.demand = demand
        self.options = options
        self.required = [demand.required_rps(hour) for hour in range(HOURS_PER_DAY)]
        minimum = demand.workload.min_on_demand_instances
        cost: list[float] = []
        upper: list[float] = []
        self.layout: list[tuple[int | None, list[int], list[int] | None]] = []
        for option in options:
            # More than this many replicas of one type in an hour is never needed: they alone meet
            # every rule of the hour. A reservation may cover the peak, so it is bounded by the busiest hour.
            needed = [max(math.ceil(r / option.capacity - 1e-9), minimum) for r in self.required]
            reserved_index = None
            if option.reservation is not None:
                reserved_index = len(cost)
                cost.append(HOURS_PER_MONTH * option.reservation.effective_hourly_usd)
                upper.append(max(needed))
            on_demand = list(range(len(cost), len(cost) + HOURS_PER_DAY))
            cost += [HOURS_PER_MONTH_PER_HOUR_OF_DAY * option.on_demand_hourly_usd] * HOURS_PER_DAY
            upper += needed
            spot = None
            if option.spot_hourly_usd is not None:
                spot = list(range(len(cost), len(cost) + HOURS_PER_DAY))
                cost += [HOURS_PER_MONTH_PER_HOUR_OF_DAY * option.spot_hourly_usd] * HOURS_PER_DAY
                upper += needed
            self.layout.append((reserved_index, on_demand, spot))
        self.cost = np.array(cost)
        self.upper = np.array(upper, dtype=float)

    def constraints(self) -> list[LinearConstraint]:
        size = len(self.cost)
        capacity = np.zeros((HOURS_PER_DAY, size))
        steady_count = np.zeros((HOURS_PER_DAY, size))
        for option, (reserved, on_demand, spot) in zip(self.options, self.layout, strict=True):
            for hour in range(HOURS_PER_DAY):
                steady = [on_demand[hour]] + ([reserved] if reserved is not None else [])
                for index in steady:
                    capacity[hour, index] = option.capacity
                    steady_count[hour, index] = 1.0
                if spot is not None:
                    capacity[hour, spot[hour]] = option.capacity
        required = np.array(self.required)
        found = [LinearConstraint(capacity, lb=required, ub=np.inf)]
        forecast = np.array([self.demand.surviving_rps(hour) for hour in range(HOURS_PER_DAY)])
        surviving = capacity.copy()
        for option, (_, _, spot) in zip(self.options, self.layout, strict=True):
            if spot is not None:
                for hour in range(HOURS_PER_DAY):
                    surviving[hour, spot[hour]] -= option.capacity / self.demand.spot_zones
        found.append(LinearConstraint(surviving, lb=forecast, ub=np.inf))
        minimum = self.demand.workload.min_on_demand_instances
        if minimum:
            found.append(LinearConstraint(steady_count, lb=np.full(HOURS_PER_DAY, minimum), ub=np.inf))
        return found

    def plan(self, values: list[int]) -> WorkloadPlan:
        allocations = []
        for option, (reserved, on_demand, spot) in zip(self.options, self.layout, strict=True):
            allocation = TypeAllocation(
                instance_type=option.choice.instance_type,
                capacity_rps=option.capacity,
                reserved=values[reserved] if reserved is not None else 0,
                reservation=option.reservation if reserved is not None and values[reserved] else None,
                on_demand=tuple(values[index] for index in on_demand),
                spot=tuple(values[index] for index in spot) if spot is not None else (0,) * HOURS_PER_DAY,
            )
            if allocation.reserved or any(allocation.on_demand) or any(allocation.spot):
                allocations.append(allocation)
        return WorkloadPlan(strategy="optimal", allocations=tuple(allocations))
