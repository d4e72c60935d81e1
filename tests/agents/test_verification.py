from agents.cost.rightsizing import analyze_right_sizing
from agents.cost.spot import analyze_spot_migration
from agents.verification import expected_end_state, mismatches
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import Instance
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


def test_spot_migration_expects_spot_replacements_and_stopped_originals() -> None:
    found = analyze_spot_migration(snapshot(instance_type="g5.xlarge", count=2, gpu=70, gpu_memory=70))
    assert isinstance(found, Proposal)
    expected = expected_end_state(found.steps)
    launched = [e for e in expected if e.launched_by]
    originals = [e for e in expected if e.instance_id]
    assert [e.lifecycle for e in launched] == [PurchaseOption.SPOT]
    assert [e.state for e in originals] == ["stopped"]


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
