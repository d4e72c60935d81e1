"""What an Auto Scaling group must look like after an autoscaling recommendation's steps."""

from agents.cost.autoscaling import POLICY_NAME, AutoscalingParams, gpu_utilization_policy
from agents.verification import (
    expected_end_state,
    expected_scaling_groups,
    scaling_group_mismatches,
)
from optiinfra.domain.enums import StepAction
from optiinfra.domain.fleet import ScalingGroupState
from optiinfra.domain.recommendation import ExecutionStep

GROUP = "acme-chat"
POLICY = gpu_utilization_policy(GROUP, AutoscalingParams())


def _steps() -> list[ExecutionStep]:
    return [
        ExecutionStep(
            step_id="update-scaling-group",
            action=StepAction.UPDATE_SCALING_GROUP,
            target=GROUP,
            params={"min_size": "2", "max_size": "5", "default_cooldown": "600"},
            description="widen",
        ),
        ExecutionStep(
            step_id="put-scaling-policy",
            action=StepAction.PUT_SCALING_POLICY,
            target=GROUP,
            params={"policy_name": POLICY_NAME, "policy": POLICY.model_dump_json()},
            description="track",
        ),
    ]


def _group(**changes: object) -> ScalingGroupState:
    group = ScalingGroupState(
        name=GROUP, min_size=2, max_size=5, desired_capacity=4, default_cooldown=600, policies=[POLICY]
    )
    return group.model_copy(update=changes)


def test_group_steps_expect_their_limits_and_policy_and_no_instance() -> None:
    (expected,) = expected_scaling_groups(_steps())
    assert (expected.group_name, expected.min_size, expected.max_size, expected.default_cooldown) == (
        GROUP,
        2,
        5,
        600,
    )
    assert expected.desired_capacity is None
    assert expected.policies == {POLICY_NAME: POLICY}
    assert expected_end_state(_steps()) == []


def test_a_group_as_expected_has_no_mismatch() -> None:
    (expected,) = expected_scaling_groups(_steps())
    assert scaling_group_mismatches(expected, _group()) == []


def test_mismatches_name_each_difference() -> None:
    (expected,) = expected_scaling_groups(_steps())
    drifted = POLICY.model_copy(update={"target_value": 50.0})
    problems = scaling_group_mismatches(
        expected, _group(min_size=4, default_cooldown=300, policies=[drifted])
    )
    assert problems == [
        f"{GROUP}: min size is 4, expected 2",
        f"{GROUP}: default cooldown is 300, expected 600",
        f"{GROUP}: policy {POLICY_NAME} target_value is 50.0, expected 70.0",
    ]
    assert scaling_group_mismatches(expected, _group(policies=[])) == [
        f"{GROUP}: policy {POLICY_NAME} is missing"
    ]
    assert scaling_group_mismatches(expected, None) == [f"Auto Scaling group {GROUP} does not exist"]


def test_a_deleted_policy_must_be_gone() -> None:
    steps = [
        ExecutionStep(
            step_id="delete",
            action=StepAction.DELETE_SCALING_POLICY,
            target=GROUP,
            params={"policy_name": POLICY_NAME},
            description="drop",
        )
    ]
    (expected,) = expected_scaling_groups(steps)
    assert expected.policies == {POLICY_NAME: None}
    assert scaling_group_mismatches(expected, _group()) == [f"{GROUP}: policy {POLICY_NAME} is still there"]
    assert scaling_group_mismatches(expected, _group(policies=[])) == []
