"""Execution steps on a Kubernetes Deployment, each with the compensation that undoes it; shared by the
agents that act through a workload's Deployment (Performance, Resource)."""

import json

from optiinfra.domain.enums import StepAction
from optiinfra.domain.kube import DeploymentState, PodsMetricAutoscaler
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep

ROLLOUT_TIMEOUT_SECONDS = 1800
"""A rolling restart of vLLM pods loads weights on each; the activity's own timeout caps this further."""


def scale_deployment_step(ref: str, target: int, current: int, step_id: str = "scale") -> ExecutionStep:
    return ExecutionStep(
        step_id=step_id,
        action=StepAction.SCALE_DEPLOYMENT,
        target=ref,
        params={"replicas": str(target), "previous_replicas": str(current)},
        description=f"Scale {ref} from {current} to {target} replicas",
        compensation=CompensationStep(
            action=StepAction.SCALE_DEPLOYMENT,
            target=ref,
            params={"replicas": str(current)},
            description=f"Scale {ref} back to {current} replicas",
        ),
    )


def set_vllm_args_step(
    deployment: DeploymentState, args: list[str], description: str, step_id: str = "set-args"
) -> ExecutionStep:
    """Roll the vLLM container to `args`, testing that its args are still the ones read (a concurrent edit
    fails the step instead of being overwritten); compensation rolls the previous args back."""
    ref = str(deployment.ref)
    return ExecutionStep(
        step_id=step_id,
        action=StepAction.SET_VLLM_ARGS,
        target=ref,
        params={
            "container": deployment.container,
            "args": json.dumps(args),
            "expected": json.dumps(deployment.args),
            "rollout_timeout_seconds": str(ROLLOUT_TIMEOUT_SECONDS),
        },
        description=description,
        compensation=CompensationStep(
            action=StepAction.SET_VLLM_ARGS,
            target=ref,
            params={
                "container": deployment.container,
                "args": json.dumps(deployment.args),
                "rollout_timeout_seconds": str(ROLLOUT_TIMEOUT_SECONDS),
            },
            description=f"Roll {ref} back to its previous vLLM arguments",
        ),
    )


def apply_autoscaler_step(
    wanted: PodsMetricAutoscaler, previous: PodsMetricAutoscaler | None, step_id: str = "autoscaler"
) -> ExecutionStep:
    """Put `wanted` in place; compensation puts `previous` back, or removes the autoscaler if there was
    none."""
    ref = str(wanted.ref)
    undo = (
        CompensationStep(
            action=StepAction.REMOVE_AUTOSCALER,
            target=ref,
            params={},
            description=f"Remove the autoscaler of {ref}",
        )
        if previous is None
        else CompensationStep(
            action=StepAction.APPLY_AUTOSCALER,
            target=ref,
            params={"autoscaler": previous.model_dump_json()},
            description=f"Put the autoscaler of {ref} back to {previous.describe()}",
        )
    )
    return ExecutionStep(
        step_id=step_id,
        action=StepAction.APPLY_AUTOSCALER,
        target=ref,
        params={"autoscaler": wanted.model_dump_json()},
        description=f"Autoscale {ref}: {wanted.describe()}",
        compensation=undo,
    )
