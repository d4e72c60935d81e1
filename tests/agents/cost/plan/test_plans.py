import math
import random

import pytest

from agents.cost.commitments import CommitmentPolicy, cheapest_allowed_offer
from agents.cost.plan import (
    TypeAllocation,
    WorkloadDemand,
    WorkloadPlan,
    current_fleet_plan,
    naive_plan,
)
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


def _optimum(found: WorkloadDemand, types: list[TypeCapacity]) -> WorkloadPlan:
    solved = optimal_plan(found, types, POLICY)
    assert solved.proven_optimal
    return solved.plan


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
        spot_zones=rng.choice([1, 2, 3]),
        reservations_allowed=rng.random() < 0.5,
    )


@pytest.mark.parametrize("seed", range(10))
def test_the_optimum_keeps_every_rule_and_is_no_dearer_than_by_hand(
    seed: int, real_capacities: list[TypeCapacity]
) -> None:
    rng = random.Random(seed)
    found = _real_demand(rng)
    current = rng.choice(real_capacities)
    optimal, naive = _optimum(found, real_capacities), naive_plan(found, current)
    assert optimal.violations(found) == [] and naive.violations(found) == []
    assert optimal.monthly_cost_usd <= naive.monthly_cost_usd + 1e-6
    over_provisioned = current_fleet_plan(current.instance_type, current.capacity_rps, 1_000)
    assert naive.monthly_cost_usd < over_provisioned.monthly_cost_usd


def test_stateful_workloads_get_no_spot_and_pay_for_it() -> None:
    hourly = day(10.0, 4.0)
    stateful, stateless = demand(hourly, stateless=False, zones=3), demand(hourly, zones=3)
    kept = _optimum(stateful, TYPES)
    assert not any(any(a.spot) for a in kept.allocations)
    assert kept.violations(stateful) == []
    relaxed = _optimum(stateless, TYPES)
    assert any(any(a.spot) for a in relaxed.allocations)
    assert relaxed.monthly_cost_usd < kept.monthly_cost_usd


def test_a_critical_workload_may_run_spot_above_what_survives_a_reclaim() -> None:
    found = demand(day(10.0, 4.0), critical=True, zones=3)
    plan = _optimum(found, TYPES)
    assert any(any(a.spot) for a in plan.allocations)
    for hour in range(24):
        surviving = plan.capacity_rps(hour) - plan.largest_spot_pool_rps(hour, 3)
        assert surviving >= found.hourly_rps[hour] - 1e-9


def test_a_type_above_the_interruption_bucket_never_runs_spot() -> None:
    plan = _optimum(demand(day(10.0, 4.0), zones=3), TYPES)
    assert not any(any(a.spot) for a in plan.allocations if a.name == RISKY.instance_type.name)


def test_more_zones_make_a_reclaim_smaller_and_spot_cheaper_to_use() -> None:
    hourly = day(10.0, 4.0)
    by_zones = {zones: _optimum(demand(hourly, zones=zones), TYPES) for zones in (1, 2, 3)}
    for zones, plan in by_zones.items():
        for hour in range(24):
            assert plan.capacity_rps(hour) - plan.largest_spot_pool_rps(hour, zones) >= hourly[hour] - 1e-9
    costs = [by_zones[zones].monthly_cost_usd for zones in (1, 2, 3)]
    assert costs[0] >= costs[1] >= costs[2] and costs[0] > costs[2]


def test_the_workload_minimum_of_on_demand_replicas_holds_every_hour() -> None:
    found = demand(day(3.0, 0.5), min_on_demand=3, zones=3)
    assert min(_optimum(found, TYPES).steady_replicas(hour) for hour in range(24)) >= 3


def test_reservations_only_where_allowed_and_then_they_save() -> None:
    steady_load = (6.0,) * 24
    not_allowed = _optimum(demand(steady_load, stateless=False), TYPES)
    assert all(a.reserved == 0 for a in not_allowed.allocations)
    allowed_demand = demand(steady_load, stateless=False, reservations=True)
    allowed = _optimum(allowed_demand, TYPES)
    assert sum(a.reserved for a in allowed.allocations) > 0
    assert allowed.violations(allowed_demand) == []
    assert allowed.monthly_cost_usd < not_allowed.monthly_cost_usd


def test_violations_name_every_broken_rule() -> None:
    found = demand((4.0,) * 24, stateless=False, min_on_demand=2)
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
    assert "keeps state on its replicas" in found_rules
    assert "reservations are not allowed" in found_rules
    assert "non-spot replica(s) < minimum 2" in found_rules
    short = current_fleet_plan(SMALL.instance_type, SMALL.capacity_rps, 4)
    assert any("capacity 4.000 rps < 5.000 rps needed" in v for v in short.violations(found))
    two_zones = demand((4.0,) * 24, zones=2)
    all_spot = WorkloadPlan(
        strategy="spot",
        allocations=(
            TypeAllocation(instance_type=BIG.instance_type, capacity_rps=BIG.capacity_rps, spot=(2,) * 24),
        ),
    )
    # Two zones: a reclaim takes one zone's replica (4 rps) and the other carries the 4 rps forecast.
    assert all_spot.violations(two_zones) == []
    one_zone = demand((4.0,) * 24, zones=1)
    assert any(
        "capacity after losing the largest spot pool 0.000 rps < 4.000 rps forecast" in v
        for v in all_spot.violations(one_zone)
    )
    risky_spot = WorkloadPlan(
        strategy="risky",
        allocations=(
            TypeAllocation(
                instance_type=RISKY.instance_type, capacity_rps=RISKY.capacity_rps, spot=(3,) * 24
            ),
        ),
    )
    assert any("not spot-eligible" in v for v in risky_spot.violations(demand((4.0,) * 24, zones=3)))


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
