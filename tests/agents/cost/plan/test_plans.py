import math
import random

import pytest

from agents.cost.commitments import CommitmentPolicy, cheapest_allowed_offer
from agents.cost.plan import (
    TypeAllocation,
    WorkloadDemand,
    WorkloadPlan,
    agent_plan,
    current_fleet_plan,
    naive_plan,
)
from agents.cost.plan.heuristic import floor_and_spot_plan, strategies_on_type
from agents.cost.sizing import RequestShape, TypeCapacity, type_capacities
from optiinfra.bench.plan_optimal import optimal_plan
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Workload
from tests.agents.cost.plan.fixtures import BIG, RISKY, SMALL, TYPES, day, demand

POLICY = CommitmentPolicy()
REAL_REGION = "us-east-1"
REAL_SHAPE = RequestShape(
    mean_prompt_tokens=2048,
    mean_output_tokens=27,
    p95_prompt_tokens=7009,
    ttft_p95_slo_s=3.0,
    itl_p95_slo_s=0.085,
)


def _all_plans(found: WorkloadDemand, types: list[TypeCapacity]) -> dict[str, WorkloadPlan]:
    solved = optimal_plan(found, types, POLICY)
    assert solved.proven_optimal
    return {"agent": agent_plan(found, types, POLICY), "optimal": solved.plan}


@pytest.fixture(scope="module")
def real_capacities() -> list[TypeCapacity]:
    """Llama-3.1-8B on every us-east-1 type, sized by the capacity model for a coding-assistant shape."""
    found = type_capacities(PriceCatalog.load_default().types_in(REAL_REGION), "Llama-3.1-8B", REAL_SHAPE)
    assert len(found) >= 10
    return found


def _real_demand(rng: random.Random) -> WorkloadDemand:
    level = math.exp(rng.uniform(math.log(0.5), math.log(80.0)))
    swing = rng.uniform(0.0, 0.6)
    peak_hour = rng.randrange(24)
    hourly = tuple(
        level * (1 + swing * math.cos(2 * math.pi * (hour - peak_hour) / 24)) * rng.uniform(0.9, 1.1)
        for hour in range(24)
    )
    return WorkloadDemand(
        workload=Workload(
            customer_id="acme",
            workload_id="chat",
            name="Chat",
            model_name="Llama-3.1-8B",
            region=REAL_REGION,
            stateless=rng.random() < 0.7,
            critical=rng.random() < 0.2,
            min_on_demand_instances=rng.choice([0, 1, 2]),
        ),
        shape=REAL_SHAPE,
        hourly_rps=hourly,
        reservations_allowed=rng.random() < 0.5,
    )


@pytest.mark.parametrize("seed", range(10))
def test_optimal_is_no_dearer_than_the_agent_and_the_agent_no_dearer_than_by_hand(
    seed: int, real_capacities: list[TypeCapacity]
) -> None:
    rng = random.Random(seed)
    found = _real_demand(rng)
    current = rng.choice(real_capacities)
    plans = {**_all_plans(found, real_capacities), "naive": naive_plan(found, current)}
    for name, plan in plans.items():
        assert plan.violations(found) == [], name
    optimal, agent, naive = (plans[name].monthly_cost_usd for name in ("optimal", "agent", "naive"))
    assert optimal <= agent + 1e-6 <= naive + 2e-6
    over_provisioned = current_fleet_plan(current.instance_type, current.capacity_rps, 1_000)
    assert naive < over_provisioned.monthly_cost_usd


def test_critical_workloads_get_no_spot_and_pay_for_it() -> None:
    hourly = day(10.0, 4.0)
    critical, relaxed = demand(hourly, critical=True), demand(hourly)
    for plan in _all_plans(critical, TYPES).values():
        assert not any(any(a.spot) for a in plan.allocations)
        assert plan.violations(critical) == []
    relaxed_plans = _all_plans(relaxed, TYPES)
    assert all(any(any(a.spot) for a in plan.allocations) for plan in relaxed_plans.values())
    assert (
        relaxed_plans["optimal"].monthly_cost_usd
        < optimal_plan(critical, TYPES, POLICY).plan.monthly_cost_usd
    )


def test_a_type_above_the_interruption_bucket_never_runs_spot() -> None:
    found = demand(day(10.0, 4.0))
    for plan in _all_plans(found, TYPES).values():
        assert not any(any(a.spot) for a in plan.allocations if a.name == RISKY.instance_type.name)


def test_the_on_demand_floor_forces_on_demand_capacity() -> None:
    hourly = day(10.0, 4.0)
    no_floor = optimal_plan(demand(hourly, floor=0.0), TYPES, POLICY).plan
    assert all(no_floor.steady_replicas(hour) == 0 for hour in range(24))  # spot is cheapest
    half = demand(hourly, floor=0.5)
    for plan in _all_plans(half, TYPES).values():
        for hour in range(24):
            assert plan.steady_capacity_rps(hour) >= 0.5 * half.required_rps(hour) - 1e-9
    assert optimal_plan(half, TYPES, POLICY).plan.monthly_cost_usd > no_floor.monthly_cost_usd


def test_the_workload_minimum_of_on_demand_replicas_holds_every_hour() -> None:
    found = demand(day(3.0, 0.5), min_on_demand=3)
    for plan in _all_plans(found, TYPES).values():
        assert min(plan.steady_replicas(hour) for hour in range(24)) >= 3


def test_reservations_only_where_allowed_and_then_they_save() -> None:
    steady_load = (6.0,) * 24
    not_allowed = demand(steady_load, stateless=False)
    allowed = demand(steady_load, stateless=False, reservations=True)
    for plan in _all_plans(not_allowed, TYPES).values():
        assert all(a.reserved == 0 for a in plan.allocations)
    with_reservations = _all_plans(allowed, TYPES)
    for plan in with_reservations.values():
        assert sum(a.reserved for a in plan.allocations) > 0
        assert plan.violations(allowed) == []
    assert (
        with_reservations["agent"].monthly_cost_usd
        < optimal_plan(not_allowed, TYPES, POLICY).plan.monthly_cost_usd
    )


def test_the_agent_reserves_the_replicas_running_all_day_with_the_cheapest_offer() -> None:
    found = demand(day(8.0, 2.0), stateless=False, reservations=True, headroom=0.0)
    (allocation,) = strategies_on_type(found, BIG, POLICY).allocations
    assert allocation.reserved == 1  # 2 rps at night is one 4-rps replica
    assert allocation.on_demand == tuple(1 if hour in range(9, 21) else 0 for hour in range(24))
    assert allocation.reservation == cheapest_allowed_offer(BIG.instance_type, POLICY)


def test_the_agent_puts_the_floor_on_one_type_and_spot_on_another_when_cheaper() -> None:
    found = demand((8.0,) * 24, headroom=0.0, floor=0.25)
    split = floor_and_spot_plan(found, SMALL, BIG, POLICY)
    small, big = split.allocations
    assert small.on_demand == (2,) * 24 and big.spot == (2,) * 24
    assert split.violations(found) == []
    assert agent_plan(found, TYPES, POLICY).monthly_cost_usd <= split.monthly_cost_usd
    with pytest.raises(ValueError, match="may not run spot"):
        floor_and_spot_plan(demand((8.0,) * 24, critical=True), SMALL, BIG, POLICY)


def test_violations_name_every_broken_rule() -> None:
    found = demand((4.0,) * 24, critical=True, min_on_demand=2, floor=0.5)
    offer = cheapest_allowed_offer(BIG.instance_type, POLICY)
    broken = WorkloadPlan(
        strategy="broken",
        allocations=(
            TypeAllocation(
                instance_type=BIG.instance_type,
                capacity_rps=BIG.capacity_rps,
                reserved=1,
                reservation=offer,
                spot=(1,) * 24,
            ),
        ),
    )
    found_rules = "\n".join(broken.violations(found))
    assert "stateful or critical" in found_rules
    assert "reservations are not allowed" in found_rules
    assert "non-spot replica(s) < minimum 2" in found_rules
    short = current_fleet_plan(SMALL.instance_type, SMALL.capacity_rps, 4)
    assert any("capacity 4.000 rps < 5.000 rps needed" in v for v in short.violations(found))
    floor_only = demand((4.0,) * 24, floor=0.5)
    all_spot = WorkloadPlan(
        strategy="spot",
        allocations=(
            TypeAllocation(instance_type=BIG.instance_type, capacity_rps=BIG.capacity_rps, spot=(2,) * 24),
        ),
    )
    assert any("on-demand floor" in v for v in all_spot.violations(floor_only))
    risky_spot = WorkloadPlan(
        strategy="risky",
        allocations=(
            TypeAllocation(
                instance_type=RISKY.instance_type, capacity_rps=RISKY.capacity_rps, spot=(3,) * 24
            ),
        ),
    )
    assert any("not spot-eligible" in v for v in risky_spot.violations(demand((4.0,) * 24, floor=0.0)))


def test_costs_follow_the_monthly_formula() -> None:
    offer = cheapest_allowed_offer(BIG.instance_type, POLICY)
    assert offer is not None
    plan = WorkloadPlan(
        strategy="by-hand",
        allocations=(
            TypeAllocation(
                instance_type=BIG.instance_type,
                capacity_rps=BIG.capacity_rps,
                reserved=2,
                reservation=offer,
                on_demand=(1,) * 12 + (0,) * 12,
                spot=(3,) * 24,
            ),
        ),
    )
    spot_price = BIG.instance_type.spot_hourly_usd
    assert spot_price is not None
    expected = 2 * 730 * offer.effective_hourly_usd + (12 * 4.0 + 24 * 3 * spot_price) * 730 / 24
    assert plan.monthly_cost_usd == pytest.approx(expected)
    assert plan.describe() == "big.4x: 2 reserved, 0-1 on-demand, 3 spot"
