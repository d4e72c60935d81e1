from agents.cost.rightsizing import analyze_right_sizing
from agents.cost.spot import analyze_spot_migration
from agents.verification import (
    expected_end_state,
    expected_scaling_groups,
    mismatches,
    scaling_group_mismatches,
)
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import Instance, ScalingGroupState
from optiinfra.domain.recommendation import Proposal
from tests.agents.snapshots import snapshot


def test_resize_expects_running_successors_of_the_new_type_and_stopped_originals() -> None:
    found = analyze_right_sizing(snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10))
    assert isinstance(found, Proposal)
    expected = expected_end_state(found.steps)
    launched = [e for e in expected if e.launched_by]
    originals = [e for e in expected if e.instance_id]
    assert len(launched) == len(originals) == 2
    assert {e.state for e in launched} == {"running"}
    assert {e.instance_type for e in launched} == {found.evidence["to_type"]}
    assert {e.state for e in originals} == {"stopped"}


def test_spot_migration_expects_the_group_in_service_with_its_base_and_stopped_originals() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=4, gpu=40, gpu_memory=70))
    assert isinstance(found, Proposal)
    expected = expected_end_state(found.steps)
    assert [e.state for e in expected] == ["stopped"] * 4 and not any(e.launched_by for e in expected)
    (group,) = expected_scaling_groups(found.steps)
    assert (group.desired_capacity, group.on_demand_base_capacity) == (4, 2)
    observed = ScalingGroupState(
        name=group.group_name,
        min_size=4,
        max_size=4,
        desired_capacity=4,
        default_cooldown=300,
        on_demand_base_capacity=2,
        in_service=3,
    )
    assert scaling_group_mismatches(group, observed) == [
        f"{group.group_name}: 3 instances in service, expected 4"
    ]
    assert scaling_group_mismatches(group, observed.model_copy(update={"in_service": 4})) == []


def test_mismatches_name_each_difference() -> None:
    found = analyze_right_sizing(snapshot(instance_type="g5.8xlarge", count=1, gpu=60, gpu_memory=55, cpu=10))
    assert isinstance(found, Proposal)
    (successor,) = (e for e in expected_end_state(found.steps) if e.launched_by)
    (expected,) = (e for e in expected_end_state(found.steps) if e.instance_id)
    observed = Instance(
        instance_id=str(expected.instance_id),
        instance_type="g5.8xlarge",
        lifecycle=PurchaseOption.ON_DEMAND,
        state="running",
        image_id="ami-1",
    )
    problems = mismatches(expected, observed)
    assert problems and any("state is running" in p for p in problems)
    stale = observed.model_copy(update={"instance_id": "i-new", "state": "stopped"})
    problems = mismatches(successor, stale)
    assert len(problems) == 2
    assert any("state is stopped" in p for p in problems)
    assert mismatches(expected, None) == [f"{expected.instance_id} does not exist"]
