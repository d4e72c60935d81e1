"""What approving a recommendation would change, step by step, against the objects as they are now.

For each step: its target's state now (instances and the Deployment are read live; scaling groups, their
policies and reservations are shown as planned), the state the step leaves it in, whether the step still
fits (the same check the run makes just before its first step), and the compensation that would undo it.
"""

import json

from pydantic import BaseModel, Field

from optiinfra.domain.enums import StepAction, StepPhase
from optiinfra.domain.preflight import ObjectReading, unmet_precondition
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep

NOT_READ = "not read live: shown as planned"


class StepPreview(BaseModel):
    step_id: str
    phase: StepPhase
    action: StepAction
    target: str
    description: str
    now: str = Field(description="The target as it is now, or why it is not read")
    after: str = Field(description="The target once the step has run")
    still_fits: bool = Field(description="False: the run would stop as superseded before its first step")
    problem: str | None = None
    compensation: CompensationStep | None = None


class RecommendationPreview(BaseModel):
    recommendation_id: str
    steps: list[StepPreview]
    superseded: bool = Field(description="Some step no longer fits the objects: approving runs no step")


def preview(recommendation_id: str, steps: list[ExecutionStep], now: ObjectReading) -> RecommendationPreview:
    previews = [_preview(step, now) for step in steps]
    return RecommendationPreview(
        recommendation_id=recommendation_id,
        steps=previews,
        superseded=any(not p.still_fits for p in previews if p.phase is StepPhase.APPLY),
    )


def _preview(step: ExecutionStep, now: ObjectReading) -> StepPreview:
    problem = unmet_precondition(step, now) if step.phase is StepPhase.APPLY else None
    current, after = _before_after(step, now)
    return StepPreview(
        step_id=step.step_id,
        phase=step.phase,
        action=step.action,
        target=step.target,
        description=step.description,
        now=current,
        after=after,
        still_fits=problem is None,
        problem=problem,
        compensation=step.compensation,
    )


def _before_after(step: ExecutionStep, now: ObjectReading) -> tuple[str, str]:
    action, params = step.action, step.params
    instance = now.instances.get(step.target)
    instance_now = f"{instance.instance_type}, {instance.state}" if instance is not None else "not found"
    deployment = now.deployment if now.deployment is not None and now.deployment.ref == step.target else None
    match action:
        case StepAction.SCALE_DEPLOYMENT:
            current = f"{deployment.replicas} replicas" if deployment is not None else "not found"
            return current, f"{params.get('replicas', '?')} replicas"
        case StepAction.SET_VLLM_ARGS:
            current = " ".join(deployment.args) if deployment is not None else "not found"
            return current, " ".join(json.loads(params.get("args", "[]")))
        case StepAction.MODIFY_INSTANCE_TYPE:
            return instance_now, f"{params.get('instance_type', '?')}, stopped until started"
        case StepAction.STOP_INSTANCE:
            return instance_now, "stopped"
        case StepAction.START_INSTANCE:
            return instance_now, "running"
        case StepAction.TERMINATE_INSTANCE:
            return instance_now, "terminated"
        case StepAction.LAUNCH_REPLACEMENT:
            lifecycle = params.get("lifecycle", "on_demand").replace("_", "-")
            return "not launched yet", f"a new {lifecycle} {params.get('instance_type', '?')}, running"
        case _:
            return NOT_READ, _planned(params)


def _planned(params: dict[str, str]) -> str:
    """A step's parameters as the change it plans, JSON values shown compactly."""
    if not params:
        return "as described"
    return "; ".join(f"{name} = {value}" for name, value in sorted(params.items()))
