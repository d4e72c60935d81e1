import math
import random
from itertools import product

import pytest

from agents.cost.commitments import CommitmentPolicy, cheapest_allowed_offer
from agents.cost.plan import WorkloadDemand
from agents.cost.plan.model import HOURS_PER_MONTH_PER_HOUR_OF_DAY
from agents.cost.pricing import HOURS_PER_MONTH
from agents.cost.sizing import TypeCapacity
from agents.cost.spot_floor import spot_eligible_type
from optiinfra.bench.plan_optimal import PlanInfeasibleError, optimal_plan
from tests.agents.cost.plan.fixtures import capacity, demand, instance_type

POLICY = CommitmentPolicy()
MAX_COUNT = 5
"""Enumeration bound per variable; the tiny instances never need more replicas of a type than this."""


def _brute_force(found: WorkloadDemand, types: list[TypeCapacity]) -> float:
    """The cheapest plan by enumeration. Given the reserved counts the hours are independent and hours of
    equal demand have equal optima, so each distinct hour is enumerated once."""
    zones, minimum = found.spot_zones, found.workload.min_on_demand_instances
    offers = [
        cheapest_allowed_offer(t.instance_type, POLICY) if found.reservations_allowed else None for t in types
    ]
    spot_ok = [
        found.spot_allowed and spot_eligible_type(t.instance_type, found.max_interruption_bucket)
        for t in types
    ]
    hours: dict[float, int] = {}
    for hour in range(24):
        hours[found.hourly_rps[hour]] = hours.get(found.hourly_rps[hour], 0) + 1
    counts = range(MAX_COUNT + 1)
    best = math.inf
    for reserved in product(*[counts if offer else [0] for offer in offers]):
        cost = sum(
            r * HOURS_PER_MONTH * o.effective_hourly_usd for r, o in zip(reserved, offers, strict=True) if o
        )
        for forecast, repeats in hours.items():
            required = forecast * (1 + found.headroom)
            hour_best = math.inf
            for on_demand in product(counts, repeat=len(types)):
                for spot in product(*[counts if ok else [0] for ok in spot_ok]):
                    steady = [r + o for r, o in zip(reserved, on_demand, strict=True)]
                    steady_rps = sum(t.capacity_rps * n for t, n in zip(types, steady, strict=True))
                    spot_rps = sum(t.capacity_rps * n for t, n in zip(types, spot, strict=True))
                    pool = spot_rps / zones
                    if (
                        steady_rps + spot_rps < required - 1e-9
                        or steady_rps + spot_rps - pool < forecast - 1e-9
                    ):
                        continue
                    if sum(steady) < minimum:
                        continue
                    price = sum(
                        o * t.instance_type.on_demand_hourly_usd
                        + s * (t.instance_type.spot_hourly_usd or 0.0)
                        for t, o, s in zip(types, on_demand, spot, strict=True)
                    )
                    hour_best = min(hour_best, price * HOURS_PER_MONTH_PER_HOUR_OF_DAY)
            cost += repeats * hour_best
        best = min(best, cost)
    return best


def _tiny_instance(seed: int) -> tuple[WorkloadDemand, list[TypeCapacity]]:
    rng = random.Random(seed)
    types = []
    for name in ("a.x", "b.x"):
        on_demand = round(rng.uniform(0.5, 3.0), 3)
        types.append(
            capacity(
                instance_type(
                    name,
                    on_demand,
                    spot=round(on_demand * rng.uniform(0.25, 0.6), 3),
                    bucket=rng.choice([0, 2, 4]),
                    reserved=round(on_demand * rng.uniform(0.55, 0.8), 3) if rng.random() < 0.8 else None,
                ),
                round(rng.uniform(1.0, 2.5), 2),
            )
        )
    levels = [round(rng.uniform(0.2, 3.2), 2) for _ in range(rng.choice([2, 3]))]
    hourly = tuple(levels[rng.randrange(len(levels))] for _ in range(24))
    return (
        demand(
            hourly,
            critical=rng.random() < 0.25,
            min_on_demand=rng.choice([0, 0, 1]),
            stateless=rng.random() < 0.8,
            zones=rng.choice([1, 2, 3]),
            reservations=rng.random() < 0.7,
        ),
        types,
    )


@pytest.mark.parametrize("seed", range(8))
def test_the_integer_program_finds_the_enumerated_optimum(seed: int) -> None:
    found, types = _tiny_instance(seed)
    solved = optimal_plan(found, types, POLICY)
    assert solved.proven_optimal and solved.mip_gap == 0.0
    assert solved.plan.violations(found) == []
    assert solved.plan.monthly_cost_usd == pytest.approx(_brute_force(found, types), rel=1e-9)
    assert solved.lower_bound_usd == pytest.approx(solved.plan.monthly_cost_usd)


def test_a_type_beaten_replica_for_replica_is_pruned_without_changing_the_optimum() -> None:
    cheap = capacity(instance_type("cheap.x", 1.0, spot=0.3, bucket=1), 2.0)
    dear_copy = capacity(instance_type("dear.x", 1.1, spot=0.4, bucket=1), 2.0)
    found = demand((3.0,) * 24)
    both = optimal_plan(found, [cheap, dear_copy], POLICY)
    assert both.candidate_types == 1
    assert both.plan.monthly_cost_usd == pytest.approx(
        optimal_plan(found, [cheap], POLICY).plan.monthly_cost_usd
    )


def test_no_candidate_type_is_a_clear_error() -> None:
    with pytest.raises(PlanInfeasibleError, match=r"no candidate type serves Llama-3\.1-8B"):
        optimal_plan(demand((1.0,) * 24), [], POLICY)


def test_a_reservation_may_cover_more_than_the_quietest_hour_needs() -> None:
    """Reserved at 60% of on-demand pays off for replicas busy more than 60% of the day: with 20 busy hours
    the optimum reserves for the busy level, beyond what the quietest hour needs."""
    only = capacity(instance_type("only.x", 1.0, reserved=0.6), 1.0)
    found = demand(tuple(4.0 if hour < 20 else 1.0 for hour in range(24)), headroom=0.0, reservations=True)
    solved = optimal_plan(found, [only], POLICY)
    (allocation,) = solved.plan.allocations
    assert allocation.reserved == 4
    assert allocation.on_demand == (0,) * 24
