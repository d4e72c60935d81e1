import math

import pytest

from agents.cost.spot import analyze_spot_migration
from agents.cost.strategies import analyze_cost
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import PurchaseOption, RecommendationType, StepAction, StepPhase
from optiinfra.domain.recommendation import Proposal
from tests.agents.snapshots import REGION, snapshot


def test_stateless_workload_moves_all_but_the_on_demand_floor() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=4, gpu=70, gpu_memory=70))
    assert isinstance(found, Proposal)
    assert found.type is RecommendationType.SPOT_MIGRATION
    moved = [s for s in found.steps if s.action is StepAction.LAUNCH_REPLACEMENT]
    assert len(moved) == 4 - math.ceil(4 * 0.25)
    g5 = PriceCatalog.load_default().get("g5.xlarge", REGION)
    assert g5.spot_hourly_usd is not None
    assert found.estimated_monthly_savings_usd == pytest.approx(
        3 * (g5.on_demand_hourly_usd - g5.spot_hourly_usd) * 730, abs=0.01
    )


def test_replacement_runs_before_the_old_instance_stops_and_terminate_waits_for_verification() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=2, gpu=70, gpu_memory=70))
    assert isinstance(found, Proposal)
    apply = [s for s in found.steps if s.phase is StepPhase.APPLY]
    finalize = [s for s in found.steps if s.phase is StepPhase.FINALIZE]
    assert [s.action for s in apply] == [StepAction.LAUNCH_REPLACEMENT, StepAction.STOP_INSTANCE]
    assert apply[0].params["lifecycle"] == PurchaseOption.SPOT.value
    assert apply[0].compensation is not None
    assert apply[0].compensation.action is StepAction.TERMINATE_LAUNCHED
    assert [s.action for s in finalize] == [StepAction.TERMINATE_INSTANCE]


@pytest.mark.parametrize(
    ("stateless", "critical", "reason"),
    [(False, False, "keeps state"), (True, True, "critical")],
)
def test_stateful_or_critical_workloads_stay_on_demand(stateless: bool, critical: bool, reason: str) -> None:
    found = analyze_spot_migration(
        snapshot(
            instance_type="g5.xlarge", count=4, gpu=70, gpu_memory=70, stateless=stateless, critical=critical
        )
    )
    assert isinstance(found, str) and reason in found


def test_single_replica_keeps_its_on_demand_floor() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=1, gpu=70, gpu_memory=70))
    assert isinstance(found, str) and "floor" in found


def test_a_second_pass_after_a_migration_keeps_the_on_demand_floor() -> None:
    """Approve "move 3 of 4 to spot", run the agent again: the one on-demand replica left is the floor, and
    nothing more moves (the spot replicas do not count towards it)."""
    migrated = snapshot(instance_type="g5.xlarge", count=4, gpu=70, gpu_memory=70)
    first, *rest = migrated.instances
    migrated = migrated.model_copy(
        update={
            "instances": [first, *(i.model_copy(update={"lifecycle": PurchaseOption.SPOT}) for i in rest)]
        }
    )
    found = analyze_spot_migration(migrated)
    assert isinstance(found, str) and "nothing to move above the on-demand floor of 1" in found
    # With two on-demand replicas left, one may still move and one stays.
    second = migrated.instances[1].model_copy(update={"lifecycle": PurchaseOption.ON_DEMAND})
    two_left = migrated.model_copy(update={"instances": [first, second, *migrated.instances[2:]]})
    moved = analyze_spot_migration(two_left)
    assert isinstance(moved, Proposal)
    assert len([s for s in moved.steps if s.action is StepAction.LAUNCH_REPLACEMENT]) == 1


def test_already_spot_fleet_has_nothing_to_move() -> None:
    found = analyze_spot_migration(
        snapshot(instance_type="g5.xlarge", count=4, gpu=70, gpu_memory=70, lifecycle=PurchaseOption.SPOT)
    )
    assert isinstance(found, str)


def test_cost_agent_ranks_proposals_by_savings_and_keeps_notes() -> None:
    result = analyze_cost(snapshot(instance_type="g5.12xlarge", count=4, gpu=18, gpu_memory=20, cpu=8))
    savings = [p.estimated_monthly_savings_usd for p in result.proposals]
    assert len(savings) == 2
    assert savings == sorted(savings, reverse=True)
    stateful = analyze_cost(
        snapshot(instance_type="g5.xlarge", count=2, gpu=85, gpu_memory=80, cpu=70, stateless=False)
    )
    assert stateful.proposals == []
    strategies = {note.split(":")[0] for note in stateful.notes}
    assert {"right-sizing", "spot migration", "reserved capacity"} <= strategies
