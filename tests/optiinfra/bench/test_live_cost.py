import math

import pytest

from agents.cost.commitments import CommitmentPolicy
from agents.cost.plan import WorkloadDemand, hourly_profile, reservations_allowed
from agents.cost.sizing import RequestShape, TypeCapacity, type_capacities
from optiinfra.bench.live_cost import BenchTraffic, LiveCostAgent, LiveFleet
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import InstanceType, Workload
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.models import TokenLengthMix

REGION = "us-east-1"
MODEL = "Llama-3.1-8B"
MIX = TokenLengthMix(((1500, 150), (2000, 200), (2500, 250), (6000, 300)))
SHAPE = RequestShape(
    mean_prompt_tokens=MIX.mean_prompt_tokens,
    mean_output_tokens=MIX.mean_output_tokens,
    p95_prompt_tokens=6000,
    ttft_p95_slo_s=3.0,
    itl_p95_slo_s=0.1,
)
POLICY = CommitmentPolicy()
SPOT_FAMILIES = {"NVIDIA A10G", "NVIDIA L4", "NVIDIA L40S"}


def _week(peak_rps: float) -> list[RateWindow]:
    """A week of ten-minute windows swinging daily between a third of the peak and the peak."""
    return [
        RateWindow(
            start_s=n * 600.0,
            duration_s=600.0,
            rate_rps=peak_rps * (2 + math.cos(2 * math.pi * ((n * 600.0) % 86_400 - 15 * 3600) / 86_400)) / 3,
        )
        for n in range(7 * 144)
    ]


@pytest.fixture(scope="module")
def catalog() -> tuple[list[InstanceType], list[TypeCapacity]]:
    """The region's A10G, L4 and L40S types: all priced on spot, so spot migration has a type to run."""
    types = [t for t in PriceCatalog.load_default().types_in(REGION) if t.gpu_model in SPOT_FAMILIES]
    return types, type_capacities(types, MODEL, SHAPE)


def _run(
    catalog: tuple[list[InstanceType], list[TypeCapacity]],
    *,
    stateless: bool,
    history_days: float,
    zones: int = 2,
    current: str = "g5.12xlarge",
    replicas: int = 12,
) -> tuple[LiveFleet, WorkloadDemand, dict[str, float]]:
    types, capacities = catalog
    week = _week(peak_rps=20.0)
    demand = WorkloadDemand(
        workload=Workload(
            customer_id="bench",
            workload_id="chat",
            name="chat",
            model_name=MODEL,
            region=REGION,
            stateless=stateless,
            min_on_demand_instances=1,
        ),
        shape=SHAPE,
        hourly_rps=hourly_profile(week),
        spot_zones=zones,
        reservations_allowed=reservations_allowed(history_days, POLICY),
    )
    by_name = {c.instance_type.name: c.capacity_rps for c in capacities}
    agent = LiveCostAgent(demand, types, BenchTraffic(week, MIX, history_days), POLICY, by_name)
    start = next(t for t in types if t.name == current)
    return agent.run(LiveFleet(start, replicas, zones)).fleet, demand, by_name


def test_a_stateless_fleet_is_right_sized_then_moved_to_a_spot_group_that_survives_a_reclaim(
    catalog: tuple[list[InstanceType], list[TypeCapacity]],
) -> None:
    fleet, demand, capacities = _run(catalog, stateless=True, history_days=7)
    assert fleet.approved[:2] == ("right_sizing", "spot_migration")
    assert "reserved_capacity" not in fleet.approved  # a week of history commits to nothing
    base = fleet.on_demand_base
    assert base is not None and base >= demand.workload.min_on_demand_instances
    capacity = capacities[fleet.instance_type.name]
    plan = fleet.plan(capacity)
    assert any(any(a.spot) for a in plan.allocations)
    # In every hour, losing one zone's share of the spot replicas leaves the hour's busiest rate served.
    busiest = [
        max(w.rate_rps for w in _week(20.0) if int(w.start_s % 86_400 // 3600) == h) for h in range(24)
    ]
    assert any(plan.replicas(hour) > plan.steady_replicas(hour) for hour in range(24))
    for hour in range(24):
        spot = plan.replicas(hour) - plan.steady_replicas(hour)
        assert (plan.replicas(hour) - math.ceil(spot / 2)) * capacity >= busiest[hour] - 1e-9
    start_cost = 12 * 730 * next(t for t in catalog[0] if t.name == "g5.12xlarge").on_demand_hourly_usd
    assert plan.monthly_cost_usd < start_cost


def test_a_stateful_fleet_stays_on_demand_and_reserves_its_baseline_once_history_allows(
    catalog: tuple[list[InstanceType], list[TypeCapacity]],
) -> None:
    young, _, _ = _run(catalog, stateless=False, history_days=7)
    settled, _, capacities = _run(catalog, stateless=False, history_days=90)
    assert young.approved == ("right_sizing",) and young.on_demand_base is None
    assert settled.approved == ("right_sizing", "reserved_capacity")
    assert (settled.instance_type, settled.replicas) == (young.instance_type, young.replicas)
    assert settled.reserved == settled.replicas and settled.reservation is not None
    plan = settled.plan(capacities[settled.instance_type.name])
    assert not any(any(a.spot) for a in plan.allocations)
    assert plan.monthly_cost_usd < young.plan(capacities[young.instance_type.name]).monthly_cost_usd


def test_the_snapshot_holds_what_the_collectors_read(
    catalog: tuple[list[InstanceType], list[TypeCapacity]],
) -> None:
    types, capacities = catalog
    week = _week(20.0)
    demand = WorkloadDemand(
        workload=Workload(
            customer_id="bench", workload_id="chat", name="chat", model_name=MODEL, region=REGION
        ),
        shape=SHAPE,
        hourly_rps=hourly_profile(week),
        spot_zones=3,
    )
    agent = LiveCostAgent(
        demand,
        types,
        BenchTraffic(week, MIX, 45),
        POLICY,
        {c.instance_type.name: c.capacity_rps for c in capacities},
    )
    start = next(t for t in types if t.name == "g5.12xlarge")
    snapshot = agent.snapshot(LiveFleet(start, 6, 3, on_demand_base=2, group_types=("g5.12xlarge",)))
    assert snapshot.workload.slo_ttft_p95_s == 3.0 and snapshot.workload.slo_itl_p95_s == 0.1
    assert [i.lifecycle for i in snapshot.instances].count(PurchaseOption.ON_DEMAND) == 2
    assert len({i.availability_zone for i in snapshot.instances}) == 3
    assert snapshot.scaling_group is not None and snapshot.scaling_group.on_demand_base_capacity == 2
    assert len(snapshot.windows) == 144 and all(w.replicas == 6 for w in snapshot.windows)
    assert snapshot.request_rate is not None and len(snapshot.request_rate.values) == 7 * 144
    assert snapshot.windows[-1].request_rate == pytest.approx(week[-1].rate_rps)
    # The billing view: 45 days of the on-demand base.
    assert len(snapshot.usage) == 45 * 24 and {u.instances for u in snapshot.usage} == {2}
