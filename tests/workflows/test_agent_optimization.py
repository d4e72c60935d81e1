"""AgentOptimizationWorkflow end to end: real dev server, real store, moto twin over HTTP."""

from typing import Any

import pytest
from botocore.exceptions import ClientError
from temporalio.client import WorkflowExecutionStatus

from optiinfra.cloud import tags
from optiinfra.domain.enums import DecisionKind, RecommendationStatus, StepStatus
from optiinfra.domain.recommendation import Approval
from optiinfra.store import repository
from tests.workflows.conftest import Harness, fleet_state, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_low_risk_right_sizing_auto_executes_verifies_and_records(harness: Harness) -> None:
    chat = harness.cloud.seeded.instance_ids["chat-8b"]
    handle = await harness.start("chat-8b")
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED
    assert status.recommendation is not None
    assert status.gate_reason is not None and "auto-executed" in status.gate_reason
    after = fleet_state(harness.fleet)
    assert {after[i] for i in chat} == {("g5.2xlarge", "running", "on-demand")}
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


async def test_a_step_failing_halfway_restores_the_fleet_exactly(harness: Harness) -> None:
    """Resizing the second replica hits InsufficientInstanceCapacity on start (as AWS does when the new
    type has no capacity); the first replica's resize and the second's stop and type change are undone."""
    chat = sorted(harness.cloud.seeded.instance_ids["chat-8b"])
    victim = chat[1]
    failures = {"left": harness.settings.activity_max_attempts}

    def no_capacity_for_victim(params: dict[str, Any], **_: Any) -> None:
        if params.get("InstanceIds") == [victim] and failures["left"] > 0:
            failures["left"] -= 1
            raise ClientError(
                {
                    "Error": {
                        "Code": "InsufficientInstanceCapacity",
                        "Message": "no g5.2xlarge capacity in us-east-1a",
                    }
                },
                "StartInstances",
            )

    harness.fleet.ec2.meta.events.register(
        "before-parameter-build.ec2.StartInstances", no_capacity_for_victim
    )
    before = fleet_state(harness.fleet)

    status = await (await harness.start("chat-8b")).result()

    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None
    assert "InsufficientInstanceCapacity" in status.failure_reason
    assert fleet_state(harness.fleet) == before
    compensated = [r for r in status.step_results if r.status is StepStatus.COMPENSATED]
    failed = [r for r in status.step_results if r.status is StepStatus.FAILED]
    assert [f.step_id for f in failed] == ["start-2"]
    # start-2's own compensation, then resize-2, stop-2, and the three steps of replica 1, newest first.
    assert [c.step_id for c in compensated] == [
        "compensate-start-2",
        "compensate-resize-2",
        "compensate-stop-2",
        "compensate-start-1",
        "compensate-resize-1",
        "compensate-stop-1",
    ]
    assert status.recommendation is not None
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.ROLLED_BACK
    assert record.status_reason is not None and "InsufficientInstanceCapacity" in record.status_reason


async def test_failed_verification_compensates(harness: Harness) -> None:
    """A spot replacement interrupted before verification: the workflow puts the on-demand fleet back."""
    originals = harness.cloud.seeded.instance_ids["code-assist"]
    handle = await harness.start("code-assist", verify_delay_seconds=4)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="ana")
    )
    await wait_for_phase(handle, WorkflowPhase.VERIFYING)

    replacements = [
        iid
        for iid, (_, state, lifecycle) in fleet_state(harness.fleet).items()
        if lifecycle == "spot" and state == "running"
    ]
    assert len(replacements) == 3
    harness.fleet.ec2.terminate_instances(InstanceIds=replacements[:1])  # the spot market takes one back

    status = await handle.result()

    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None and "verification failed" in status.failure_reason
    after = fleet_state(harness.fleet)
    assert {after[i] for i in originals} == {("g5.xlarge", "running", "on-demand")}
    assert {after[i][1] for i in replacements} == {"terminated"}
    launched = harness.fleet.ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": [tags.STEP_KEY]}])
    assert all(i["State"]["Name"] == "terminated" for r in launched["Reservations"] for i in r["Instances"])
