"""The Cost agent's autoscaling policy end to end: support-bot's Auto Scaling group, pinned at its peak,
gets a target-tracking policy once a person approves, or is put back exactly as it was when a step fails."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from agents.cost.autoscaling import POLICY_NAME
from optiinfra.domain.enums import DecisionKind, RecommendationStatus, RecommendationType, StepStatus
from optiinfra.domain.recommendation import Approval
from optiinfra.store import repository
from tests.workflows.conftest import Harness, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WORKLOAD = "support-bot"


def group_in_moto(harness: Harness) -> tuple[tuple[int, int, int, int], list[dict[str, Any]]]:
    """(min, max, desired, default cooldown) and the scaling policies, read straight from Auto Scaling."""
    name = harness.cloud.seeded.scaling_groups[WORKLOAD]
    client = harness.groups.autoscaling
    raw = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    policies = client.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    for policy in policies:
        policy.pop("ResponseMetadata", None)
    sizes = (raw["MinSize"], raw["MaxSize"], raw["DesiredCapacity"], raw["DefaultCooldown"])
    return sizes, policies


async def test_an_approved_autoscaling_policy_is_executed_and_verified(harness: Harness) -> None:
    handle = await harness.start(WORKLOAD)
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    recommendation = waiting.recommendation
    assert recommendation is not None
    assert recommendation.type is RecommendationType.AUTOSCALING_POLICY
    assert waiting.gate_reason is not None
    assert group_in_moto(harness) == ((4, 4, 4, 300), [])

    await handle.signal(
        AgentOptimizationWorkflow.approve,
        Approval(decision=DecisionKind.APPROVE, approver="ana", reason="follow the daily cycle"),
    )
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED, status.failure_reason
    assert [(r.step_id, r.status) for r in status.step_results] == [
        ("update-scaling-group", StepStatus.SUCCEEDED),
        ("put-scaling-policy", StepStatus.SUCCEEDED),
    ]
    evidence = recommendation.evidence
    sizes, policies = group_in_moto(harness)
    assert sizes == (
        int(evidence["min_size"]),
        int(evidence["max_size"]),
        4,
        int(evidence["scale_in_cooldown_s"]),
    )
    assert sizes[0] == 2  # support-bot keeps its on-demand floor of two replicas
    assert [p["PolicyName"] for p in policies] == [POLICY_NAME]
    tracking = policies[0]["TargetTrackingConfiguration"]
    assert tracking["TargetValue"] == evidence["target_value"]
    assert evidence["scaling_signal"] == "gpu_utilization"  # the demo workload declares no objective
    assert tracking["CustomizedMetricSpecification"]["Dimensions"] == [
        {"Name": "AutoScalingGroupName", "Value": "demo-support-bot"}
    ]
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=recommendation.recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.EXECUTED
    assert record.outcome is not None and record.outcome.verification_passed is True


async def test_a_policy_step_failing_halfway_restores_the_group_exactly(harness: Harness) -> None:
    """The role may change the group but not put policies (AccessDenied on PutScalingPolicy): the widened
    limits and cooldown are put back and no policy is left behind."""
    attempts: list[str] = []

    def access_denied(**_: Any) -> None:
        attempts.append("PutScalingPolicy")
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDenied",
                    "Message": "User is not authorized to perform: autoscaling:PutScalingPolicy",
                },
            },
            "PutScalingPolicy",
        )

    harness.groups.autoscaling.meta.events.register(
        "before-call.auto-scaling.PutScalingPolicy", access_denied
    )
    before = group_in_moto(harness)
    handle = await harness.start(WORKLOAD)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="ana")
    )
    status = await handle.result()

    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None and "AccessDenied" in status.failure_reason
    assert attempts == ["PutScalingPolicy"]  # a permanent error is not retried
    assert group_in_moto(harness) == before == ((4, 4, 4, 300), [])
    assert [(r.step_id, r.status) for r in status.step_results] == [
        ("update-scaling-group", StepStatus.SUCCEEDED),
        ("put-scaling-policy", StepStatus.FAILED),
        ("compensate-put-scaling-policy", StepStatus.COMPENSATED),
        ("compensate-update-scaling-group", StepStatus.COMPENSATED),
    ]
    assert status.recommendation is not None
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.ROLLED_BACK
    assert record.status_reason is not None and "AccessDenied" in record.status_reason
