"""Spot migration into a mixed-instances Auto Scaling group: the on-demand base is sized so that losing the
largest spot pool (one zone's spot replicas) leaves the workload's peak served, the group replaces
reclaimed instances, and it is in service before any old replica stops."""

from datetime import timedelta

import pytest

from agents.cost.rightsizing import analyze_right_sizing
from agents.cost.spot import SpotMigrationParams, analyze_spot_migration, group_types
from agents.cost.spot_floor import spot_eligible_type
from agents.cost.strategies import analyze_cost
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import PurchaseOption, RecommendationType, RiskLevel, StepAction, StepPhase
from optiinfra.domain.fleet import ScalingGroupState, SpotGroupSpec, WorkloadSnapshot
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.domain.recommendation import Proposal
from tests.agents.snapshots import NOW, REGION, snapshot

CATALOG = PriceCatalog.load_default()


def _two_zones(found: WorkloadSnapshot) -> WorkloadSnapshot:
    """The same replicas, alternating between two zones (and their subnets)."""
    spread = [
        i.model_copy(
            update={"availability_zone": f"{REGION}{'ab'[n % 2]}", "subnet_id": f"subnet-0{'ab'[n % 2]}"}
        )
        for n, i in enumerate(found.instances)
    ]
    return found.model_copy(update={"instances": spread})


def _min_on_demand(found: WorkloadSnapshot, replicas: int) -> WorkloadSnapshot:
    workload = found.workload.model_copy(update={"min_on_demand_instances": replicas})
    return found.model_copy(update={"workload": workload})


def test_in_one_zone_the_on_demand_base_alone_carries_the_peak() -> None:
    # Four A10G replicas peaking at 40% GPU: 1.6 replicas' worth busy, so the peak needs 2.
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70))
    assert isinstance(found, Proposal) and found.type is RecommendationType.SPOT_MIGRATION
    assert found.evidence["peak_replicas"] == 2.0 and found.evidence["zones"] == 1.0
    assert found.evidence["on_demand_floor"] == 2.0 and found.evidence["spot_replicas"] == 2.0
    # Every spot replica sits in the one zone's pool: losing it leaves the two on-demand replicas.
    assert found.evidence["largest_spot_pool"] == 2.0
    types = [CATALOG.get(name, REGION) for name in str(found.evidence["instance_types"]).split(",")]
    assert types[0].name == "g5.xlarge"
    dearest_spot = max(t.spot_hourly_usd or 0.0 for t in types)
    g5 = CATALOG.get("g5.xlarge", REGION)
    assert found.projected_monthly_cost_usd == pytest.approx(
        2 * g5.on_demand_hourly_usd * 730 + 2 * dearest_spot * 730, abs=0.01
    )
    assert found.estimated_monthly_savings_usd == pytest.approx(
        found.current_monthly_cost_usd - found.projected_monthly_cost_usd, abs=0.02
    )


def test_two_zones_halve_the_largest_pool_and_lower_the_base() -> None:
    found = analyze_spot_migration(
        _min_on_demand(_two_zones(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70)), 1)
    )
    assert isinstance(found, Proposal)
    # One on-demand, three spot: a zone holds at most two of them, and losing it leaves 2 serving.
    assert (found.evidence["on_demand_floor"], found.evidence["spot_replicas"]) == (1.0, 3.0)
    assert found.evidence["largest_spot_pool"] == 2.0
    spec = SpotGroupSpec.model_validate_json(found.steps[0].params["group"])
    assert spec.subnet_ids == ["subnet-0a", "subnet-0b"] and spec.on_demand_base == 1
    assert spec.desired_capacity == 4
    assert spec.drain_seconds == 120  # no request longer than the two minutes of an interruption notice


def test_a_terminating_replica_is_held_for_the_longest_request_vllm_reported() -> None:
    base = _two_zones(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70))
    windows = [
        WorkloadWindow(
            start=NOW - timedelta(minutes=10 * n),
            seconds=600,
            replicas=4,
            requests=100,
            request_rate=100 / 600,
            prompt_tokens=200_000,
            generation_tokens=30_000,
            errors=0,
            preemptions=0,
            e2e_p99=p99,
        )
        for n, p99 in enumerate([40.0, 301.2, None])
    ]
    found = analyze_spot_migration(base.model_copy(update={"windows": windows}))
    assert isinstance(found, Proposal)
    spec = SpotGroupSpec.model_validate_json(found.steps[0].params["group"])
    assert spec.drain_seconds == 302
    assert "held 302s so its in-flight requests finish" in found.reasoning


def test_a_busy_workload_keeps_every_replica_on_demand_in_one_zone() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=4, gpu=85, gpu_memory=70))
    assert isinstance(found, str) and "the peak needs 4 of 4 replicas" in found


def test_the_group_is_in_service_before_an_old_replica_stops_and_terminations_wait_for_verification() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70))
    assert isinstance(found, Proposal)
    apply = [s for s in found.steps if s.phase is StepPhase.APPLY]
    assert [s.action for s in apply] == [StepAction.CREATE_SPOT_GROUP] + [StepAction.STOP_INSTANCE] * 4
    create = apply[0]
    assert create.compensation is not None and create.compensation.action is StepAction.DELETE_SPOT_GROUP
    assert create.compensation.target == create.target == "optiinfra-acme-chat-spot"
    assert all(s.compensation is not None for s in apply)
    finalize = [s for s in found.steps if s.phase is StepPhase.FINALIZE]
    assert [s.action for s in finalize] == [StepAction.TERMINATE_INSTANCE] * 4
    assert found.risk_level is RiskLevel.MEDIUM


def test_the_group_draws_on_types_with_the_same_gpus() -> None:
    current = CATALOG.get("g5.xlarge", REGION)
    types = group_types(current, CATALOG.types_in(REGION), SpotMigrationParams())
    assert types[0] is current and 1 < len(types) <= 3
    for other in types[1:]:
        assert (other.gpu_model, other.gpu_count) == (current.gpu_model, current.gpu_count)
        assert other.memory_gib >= current.memory_gib and spot_eligible_type(other, 3)


def test_the_workloads_own_minimum_raises_the_base() -> None:
    found = analyze_spot_migration(
        _min_on_demand(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70), 3)
    )
    assert isinstance(found, Proposal) and found.evidence["on_demand_floor"] == 3.0


def test_a_second_pass_finds_the_replicas_in_their_group() -> None:
    """Approve the migration, run the agent again: the workload runs in a mixed group whose on-demand base
    is the floor; nothing moves again, so two approvals cannot wear the floor away."""
    first = snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70)
    group = ScalingGroupState(
        name="optiinfra-acme-chat-spot",
        min_size=4,
        max_size=4,
        desired_capacity=4,
        default_cooldown=300,
        on_demand_base_capacity=2,
        spot_instance_types=["g5.xlarge", "g5.2xlarge"],
        in_service=4,
    )
    found = analyze_spot_migration(first.model_copy(update={"scaling_group": group}))
    assert isinstance(found, str) and "2 of 4 on-demand" in found


def test_stateful_workloads_stay_on_demand_and_critical_ones_use_spot_only_above_the_base() -> None:
    stateful = analyze_spot_migration(
        snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70, stateless=False)
    )
    assert isinstance(stateful, str) and "keeps state" in stateful
    critical = analyze_spot_migration(
        snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70, critical=True)
    )
    assert isinstance(critical, Proposal) and "critical: spot only above the base" in critical.reasoning


def test_a_single_replica_stays_on_demand() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=1, gpu=40, gpu_memory=70))
    assert isinstance(found, str) and "all stay on-demand" in found


def test_an_all_spot_fleet_is_not_a_saving_to_move() -> None:
    """Its group would put two replicas back on-demand: dearer, so the Cost agent calls it no saving."""
    found = analyze_spot_migration(
        snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70, lifecycle=PurchaseOption.SPOT)
    )
    assert isinstance(found, str) and "saving $-" in found


def test_spot_migration_waits_until_right_sizing_has_settled_the_replicas() -> None:
    oversized = snapshot(instance_type="g5.12xlarge", count=4, gpu=18, gpu_memory=20, cpu=8)
    result = analyze_cost(oversized)
    assert [p.type for p in result.proposals] == [RecommendationType.RIGHT_SIZING]
    assert any(note.startswith("spot migration: deferred until right-sizing") for note in result.notes)
    # Once nothing is left to right-size, the spot group is proposed on the replicas as they are.
    settled = snapshot(instance_type="g5.xlarge", count=4, gpu=75, gpu_memory=80, cpu=70)
    assert isinstance(analyze_right_sizing(settled), str)
    moved = analyze_cost(settled)
    assert [p.type for p in moved.proposals] == [RecommendationType.SPOT_MIGRATION]


def test_cost_agent_keeps_a_note_per_strategy() -> None:
    stateful = analyze_cost(
        snapshot(instance_type="g5.xlarge", count=2, gpu=85, gpu_memory=80, cpu=70, stateless=False)
    )
    assert stateful.proposals == []
    strategies = {note.split(":")[0] for note in stateful.notes}
    assert {"right-sizing", "spot migration", "reserved capacity"} <= strategies
