"""Whether a recommendation still fits the objects it acts on, checked just before its first step.

A recommendation is computed on one reading of the workload (its instances, its Deployment's replicas and
vLLM arguments) and may run hours later, after a person approves it, or after another optimization of the
same workload changed them. Each step states what it expects of its target: a Deployment scaled from N
replicas, vLLM arguments rolled from the ones read, an instance stopped, retyped or terminated that was
running as the type it was read as. `unmet_preconditions` compares those expectations with a fresh reading;
any difference means the recommendation is superseded and runs no step.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.domain.enums import StepAction, StepPhase
from optiinfra.domain.recommendation import ExecutionStep

LIVE_INSTANCE_STATES = frozenset({"pending", "running"})
"""States in which an instance a step acts on is still the one the recommendation read."""


class InstanceReading(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance_type: str
    state: str


class DeploymentReading(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: str
    replicas: int
    args: list[str] = Field(default_factory=list)


class ObjectReading(BaseModel):
    """The workload's objects as they are now: its instances by id and its Deployment, if it has one."""

    model_config = ConfigDict(frozen=True)

    instances: dict[str, InstanceReading] = Field(default_factory=dict)
    deployment: DeploymentReading | None = None


def unmet_preconditions(steps: list[ExecutionStep], now: ObjectReading) -> list[str]:
    """What no longer holds of what the apply steps expect of their targets; empty when all still do."""
    problems: list[str] = []
    for step in steps:
        if step.phase is not StepPhase.APPLY:
            continue
        problem = unmet_precondition(step, now)
        if problem is not None:
            problems.append(f"{step.step_id}: {problem}")
    return problems


def unmet_precondition(step: ExecutionStep, now: ObjectReading) -> str | None:
    """What no longer holds of what this step expects of its target, or None."""
    action, params = step.action, step.params
    if action in (StepAction.SCALE_DEPLOYMENT, StepAction.SET_VLLM_ARGS):
        deployment = now.deployment
        if deployment is None or deployment.ref != step.target:
            return f"Deployment {step.target} is gone"
        if action is StepAction.SCALE_DEPLOYMENT and "previous_replicas" in params:
            expected = int(params["previous_replicas"])
            if deployment.replicas != expected:
                return (
                    f"{step.target} has {deployment.replicas} replicas, the recommendation was computed "
                    f"for {expected}"
                )
        if (
            action is StepAction.SET_VLLM_ARGS
            and "expected" in params
            and deployment.args != json.loads(params["expected"])
        ):
            return f"{step.target}'s vLLM arguments changed since they were read"
        return None
    if action in (StepAction.STOP_INSTANCE, StepAction.TERMINATE_INSTANCE, StepAction.MODIFY_INSTANCE_TYPE):
        instance = now.instances.get(step.target)
        if instance is None:
            return f"instance {step.target} is no longer part of the workload"
        if action is StepAction.MODIFY_INSTANCE_TYPE and step.compensation is not None:
            read_as = step.compensation.params.get("instance_type")
            if read_as is not None and instance.instance_type != read_as:
                return f"instance {step.target} is a {instance.instance_type} now, it was read as {read_as}"
            return None  # a retype follows the stop of the same recommendation
        if instance.state not in LIVE_INSTANCE_STATES:
            return f"instance {step.target} is {instance.state}"
    return None
