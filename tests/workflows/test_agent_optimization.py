"""AgentOptimizationWorkflow end to end: real dev server, real store, moto twin over HTTP."""

from typing import Any

import pytest
from botocore.exceptions import ClientError
from temporalio.client import WorkflowExecutionStatus

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud import tags
from optiinfra.domain.enums import DecisionKind, RecommendationStatus, RecommendationType, StepStatus
from optiinfra.domain.recommendation import Approval
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.traffic.generator import TrafficGenerator
from optiinfra.sim.twin import demo_workload_spec
from optiinfra.sim.twin.dry_run import dry_run
from optiinfra.store import repository
from tests.workflows.conftest import Harness, fleet_state, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _successors(harness: Harness) -> dict[str, str]:
    """Launched replacements: the id each replaces -> its own id, read straight from EC2."""
    found: dict[str, str] = {}
    for page in harness.fleet.ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                tagged = {tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])}
                if tags.REPLACES in tagged:
                    found[tagged[tags.REPLACES]] = raw["InstanceId"]
    return found


async def test_low_risk_right_sizing_auto_executes_verifies_and_records(harness: Harness) -> None:
    chat = harness.cloud.seeded.instance_ids["chat-8b"]
    handle = await harness.start("chat-8b")
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED
    assert status.recommendation is not None
    assert status.gate_reason is not None and "auto-executed" in status.gate_reason
    after = fleet_state(harness.fleet)
    # Replaced, not restarted: each old replica is terminated, a g5.2xlarge successor serves in its place.
    assert {after[i] for i in chat} == {("g5.8xlarge", "terminated", "on-demand")}
    successors = _successors(harness)
    assert set(successors) == set(chat)
    assert {after[i] for i in successors.values()} == {("g5.2xlarge", "running", "on-demand")}
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
        results = await repository.list_step_results(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
        audit = await repository.list_audit(session=session, subject=status.recommendation.recommendation_id)
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.EXECUTED
    assert record.outcome is not None and record.outcome.verification_passed is True
    assert [r.status for r in results] == [StepStatus.SUCCEEDED] * 9
    assert [a.action for a in audit][:2] == ["recommendation.created", "recommendation.approved"]
    assert audit[-1].action == "recommendation.executed"


async def test_rejection_executes_nothing(harness: Harness) -> None:
    before = fleet_state(harness.fleet)
    handle = await harness.start("code-assist")
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None

    await handle.signal(
        AgentOptimizationWorkflow.reject,
        Approval(decision=DecisionKind.REJECT, approver="ana", reason="not during the launch"),
    )
    status = await handle.result()

    assert status.phase is WorkflowPhase.REJECTED
    assert status.approval is not None and status.approval.approver == "ana"
    assert status.step_results == []
    assert fleet_state(harness.fleet) == before
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=waiting.recommendation.recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.REJECTED
    assert record.status_reason == "not during the launch"


async def test_expiry_executes_nothing(harness: Harness) -> None:
    before = fleet_state(harness.fleet)
    handle = await harness.start("code-assist", approval_timeout_seconds=2)
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXPIRED
    assert status.step_results == []
    assert fleet_state(harness.fleet) == before
    # A decision that arrives after expiry cannot reach a closed workflow.
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED


async def test_a_launch_failing_halfway_leaves_every_old_replica_serving(harness: Harness) -> None:
    """The second successor's launch hits InsufficientInstanceCapacity (as AWS answers when the new type has
    none to give): the first replica, already stopped, is started again and its successor terminated, and
    the replica whose successor could not launch never stopped."""
    chat = sorted(harness.cloud.seeded.instance_ids["chat-8b"])
    launches = {"seen": 0}

    def no_capacity_after_the_first_launch(params: dict[str, Any], **_: Any) -> None:
        launches["seen"] += 1
        if launches["seen"] > 1:
            raise ClientError(
                {"Error": {"Code": "InsufficientInstanceCapacity", "Message": "no g5.2xlarge capacity"}},
                "RunInstances",
            )

    harness.fleet.ec2.meta.events.register(
        "before-parameter-build.ec2.RunInstances", no_capacity_after_the_first_launch
    )
    before = fleet_state(harness.fleet)

    status = await (await harness.start("chat-8b")).result()

    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None
    assert "InsufficientInstanceCapacity" in status.failure_reason
    after = fleet_state(harness.fleet)
    assert {i: after[i] for i in before} == before
    assert {after[i] for i in set(after) - set(before)} == {("g5.2xlarge", "terminated", "on-demand")}
    compensated = [r for r in status.step_results if r.status is StepStatus.COMPENSATED]
    failed = [r for r in status.step_results if r.status is StepStatus.FAILED]
    assert [f.step_id for f in failed] == ["launch-2"]
    # launch-2's own compensation (nothing launched), then stop-1 and launch-1, newest first.
    assert [c.step_id for c in compensated] == [
        "compensate-launch-2",
        "compensate-stop-1",
        "compensate-launch-1",
    ]
    assert not any(r.step_id == "stop-2" for r in status.step_results), f"{chat[1]} never stopped"
    assert status.recommendation is not None
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.ROLLED_BACK
    assert record.status_reason is not None and "InsufficientInstanceCapacity" in record.status_reason


async def test_a_reclaimed_spot_replica_is_replaced_by_the_group_and_the_base_stays_on_demand(
    harness: Harness,
) -> None:
    """The spot market takes a replica back while the change settles: the group replaces it before the
    verification looks, the on-demand base is untouched, and the migration stands. The Cost agent run
    again finds the replicas in their group and moves nothing: two approvals cannot wear the floor away."""
    originals = harness.cloud.seeded.instance_ids["code-assist"]
    handle = await harness.start("code-assist", verify_delay_seconds=4)
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None
    floor = int(waiting.recommendation.evidence["on_demand_floor"])
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="ana")
    )
    await wait_for_phase(handle, WorkflowPhase.VERIFYING)

    members = _group_members(harness)
    spot = [
        iid for iid, (_, state, lifecycle) in members.items() if lifecycle == "spot" and state == "running"
    ]
    assert len(spot) == len(members) - floor > 0
    harness.fleet.ec2.terminate_instances(InstanceIds=spot[:1])  # the spot market takes one back

    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED, status.failure_reason
    after = _group_members(harness)
    assert spot[0] not in after and len(after) == len(members)
    lifecycles = sorted(lifecycle for _, state, lifecycle in after.values() if state == "running")
    assert lifecycles.count("on-demand") == floor and len(lifecycles) == len(members)
    assert {fleet_state(harness.fleet)[i][1] for i in originals} == {"terminated"}

    # Until a replacement serves, the SLO holds in the twin on what remains once the largest pool (one
    # zone's spot replicas) is taken: a whole day of code-assist's traffic on the survivors alone.
    largest = int(waiting.recommendation.evidence["largest_spot_pool"])
    catalog = PriceCatalog.load_default()
    demo = demo_fleet().deployment("code-assist")
    spec = demo_workload_spec(demo, originals, catalog, seed=7)
    survivors = [(f"survivor-{n}", demo.instance_type) for n in range(len(members) - largest)]
    assert isinstance(spec.traffic, TrafficGenerator)
    day = spec.traffic.rate_windows(0.0, 86_400.0, 600.0)
    held = dry_run(spec, survivors, day, catalog)
    assert largest >= 1 and held.passes(), held

    again = await (await harness.start("code-assist")).result()
    assert any(note.startswith("spot migration: replicas already run in") for note in again.notes), (
        again.notes
    )
    if again.recommendation is not None:
        assert again.recommendation.type is not RecommendationType.SPOT_MIGRATION


def _group_members(harness: Harness) -> dict[str, tuple[str, str, str]]:
    """The code-assist spot group's instances as EC2 reports them: id -> (type, state, lifecycle)."""
    groups = harness.cloud.groups.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["optiinfra-demo-code-assist-spot"]
    )["AutoScalingGroups"]
    ids = {i["InstanceId"] for g in groups for i in g["Instances"]}
    return {iid: state for iid, state in fleet_state(harness.fleet).items() if iid in ids}
