"""A fleet plan for one workload over a typical day: per instance type, how many replicas are reserved
(bought for a term, running every hour) and how many run on-demand and on spot in each hour of the day.

Every plan - the current fleet, a hand right-sizing, the agent's and the optimum - is this one shape, so
their costs are computed by one formula and their feasibility is checked by one set of rules
(`WorkloadPlan.violations`), the same rules the optimum is solved under."""

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.cost.commitments import ReservedOffer
from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.pricing import HOURS_PER_MONTH
from agents.cost.spot_floor import spot_eligible_type
from optiinfra.domain.fleet import InstanceType

HOURS_PER_MONTH_PER_HOUR_OF_DAY = HOURS_PER_MONTH / HOURS_PER_DAY
"""A month (30.4 days) holds this many of each hour of the day: what one replica running in one hour of a
typical day is billed for per month."""
CAPACITY_TOLERANCE = 1e-6
"""Relative slack on capacity comparisons: a plan that matches demand exactly is not failed by float
rounding, and the integer program's answers, feasible to HiGHS's 1e-7 absolute tolerance, pass here."""


class TypeAllocation(BaseModel):
    """One instance type's replicas in a plan. Reserved replicas run every hour; `on_demand[h]` and
    `spot[h]` are in addition to them in hour h."""

    model_config = ConfigDict(frozen=True)

    instance_type: InstanceType
    capacity_rps: float = Field(gt=0, description="Per replica, under the workload's SLO")
    reserved: int = Field(default=0, ge=0)
    reservation: ReservedOffer | None = None
    on_demand: tuple[int, ...] = (0,) * HOURS_PER_DAY
    spot: tuple[int, ...] = (0,) * HOURS_PER_DAY

    @field_validator("on_demand", "spot")
    @classmethod
    def _one_count_per_hour(cls, counts: tuple[int, ...]) -> tuple[int, ...]:
        if len(counts) != HOURS_PER_DAY or any(count < 0 for count in counts):
            raise ValueError(f"replica counts need {HOURS_PER_DAY} non-negative entries, one per hour of day")
        return counts

    @model_validator(mode="after")
    def _reserved_replicas_have_a_price(self) -> "TypeAllocation":
        if self.reserved and self.reservation is None:
            raise ValueError(f"{self.reserved} reserved {self.instance_type.name} replica(s) need an offer")
        if self.reservation is not None and self.reservation.instance_type != self.instance_type.name:
            raise ValueError(
                f"a {self.reservation.instance_type} reservation cannot price {self.instance_type.name}"
            )
        return self

    @property
    def name(self) -> str:
        return self.instance_type.name

    @property
    def monthly_cost_usd(self) -> float:
        reserved = 0.0
        if self.reservation is not None:
            reserved = self.reserved * HOURS_PER_MONTH * self.reservation.effective_hourly_usd
        on_demand_hours = sum(self.on_demand) * HOURS_PER_MONTH_PER_HOUR_OF_DAY
        spot_hours = sum(self.spot) * HOURS_PER_MONTH_PER_HOUR_OF_DAY
        spot_price = self.instance_type.spot_hourly_usd if any(self.spot) else 0.0
        if spot_price is None:
            raise ValueError(f"{self.name} has no spot price but the plan runs spot replicas of it")
        return reserved + on_demand_hours * self.instance_type.on_demand_hourly_usd + spot_hours * spot_price

    def steady(self, hour: int) -> int:
        """Replicas that are not spot in this hour: reserved plus on-demand."""
        return self.reserved + self.on_demand[hour]

    def replicas(self, hour: int) -> int:
        return self.steady(hour) + self.spot[hour]


class WorkloadPlan(BaseModel):
    """A whole plan for one workload; `strategy` names who made it (current, naive, agent, optimal)."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    allocations: tuple[TypeAllocation, ...]

    @property
    def monthly_cost_usd(self) -> float:
        return sum(allocation.monthly_cost_usd for allocation in self.allocations)

    def capacity_rps(self, hour: int) -> float:
        return sum(a.capacity_rps * a.replicas(hour) for a in self.allocations)

    def largest_spot_pool_rps(self, hour: int, zones: int) -> float:
        """The capacity a reclaim can take at once: one zone's share of the spot replicas (of every type:
        a price-capacity-optimized group may place them all in its cheapest pool), the group spreading them
        evenly over `zones` zones (the share, not rounded up, so that the integer program can keep the
        same rule linearly)."""
        return sum(a.capacity_rps * a.spot[hour] for a in self.allocations) / zones

    def steady_replicas(self, hour: int) -> int:
        return sum(a.steady(hour) for a in self.allocations)

    def replicas(self, hour: int) -> int:
        return sum(a.replicas(hour) for a in self.allocations)

    def violations(self, demand: WorkloadDemand) -> list[str]:
        """Every rule of `demand` the plan breaks, in words; empty for a feasible plan."""
        found: list[str] = []
        names = [a.name for a in self.allocations]
        if len(set(names)) != len(names):
            found.append(f"an instance type appears twice: {names}")
        for allocation in self.allocations:
            found += _allocation_violations(allocation, demand)
        for hour in range(HOURS_PER_DAY):
            found += self._hour_violations(hour, demand)
        return found

    def describe(self) -> str:
        """One line a person can check against the cost: counts per type and purchase option."""
        parts = []
        for a in self.allocations:
            if not any(a.replicas(hour) for hour in range(HOURS_PER_DAY)):
                continue
            pieces = []
            if a.reserved:
                pieces.append(f"{a.reserved} reserved")
            if any(a.on_demand):
                pieces.append(f"{_span(a.on_demand)} on-demand")
            if any(a.spot):
                pieces.append(f"{_span(a.spot)} spot")
            parts.append(f"{a.name}: {', '.join(pieces)}")
        return "; ".join(parts) or "no replicas"

    def _hour_violations(self, hour: int, demand: WorkloadDemand) -> list[str]:
        found: list[str] = []
        required = demand.required_rps(hour)
        slack = CAPACITY_TOLERANCE * max(required, 1.0)
        capacity = self.capacity_rps(hour)
        if capacity + slack < required:
            found.append(f"hour {hour}: capacity {capacity:.3f} rps < {required:.3f} rps needed")
        surviving = capacity - self.largest_spot_pool_rps(hour, demand.spot_zones)
        needed = demand.surviving_rps(hour)
        if surviving + slack < needed:
            found.append(
                f"hour {hour}: capacity after losing the largest spot pool {surviving:.3f} rps < "
                f"{needed:.3f} rps forecast"
            )
        minimum = demand.workload.min_on_demand_instances
        if self.steady_replicas(hour) < minimum:
            found.append(f"hour {hour}: {self.steady_replicas(hour)} non-spot replica(s) < minimum {minimum}")
        return found


def _allocation_violations(allocation: TypeAllocation, demand: WorkloadDemand) -> list[str]:
    found: list[str] = []
    name = allocation.name
    if allocation.instance_type.region != demand.workload.region:
        found.append(f"{name} is priced in {allocation.instance_type.region}, not {demand.workload.region}")
    if any(allocation.spot):
        if not demand.spot_allowed:
            found.append(f"spot {name} replicas for a workload that keeps state on its replicas")
        elif not spot_eligible_type(allocation.instance_type, demand.max_interruption_bucket):
            found.append(f"spot {name} replicas, but {name} is not spot-eligible")
    if allocation.reserved and not demand.reservations_allowed:
        found.append(f"{allocation.reserved} reserved {name} replica(s), but reservations are not allowed")
    return found


def _span(counts: tuple[int, ...]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def current_fleet_plan(instance_type: InstanceType, capacity_rps: float, replicas: int) -> WorkloadPlan:
    """What the workload runs today: `replicas` on-demand replicas of one type, every hour."""
    return WorkloadPlan(
        strategy="current",
        allocations=(
            TypeAllocation(
                instance_type=instance_type,
                capacity_rps=capacity_rps,
                on_demand=(replicas,) * HOURS_PER_DAY,
            ),
        ),
    )
