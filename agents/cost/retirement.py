"""Retiring a replica once its successor serves: stopped in the change (started again by the rollback),
terminated only after verification."""

from optiinfra.domain.enums import StepAction, StepPhase
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep


def retirement_steps(instance_id: str, n: int, successor: str) -> tuple[ExecutionStep, ExecutionStep]:
    """(stop-`n`, terminate-`n`): the stop, compensated by a start, and the termination that waits for
    verification. `successor` names what serves in the instance's place."""
    stop = ExecutionStep(
        step_id=f"stop-{n}",
        action=StepAction.STOP_INSTANCE,
        target=instance_id,
        description=f"Stop {instance_id}, {successor} serving in its place",
        compensation=CompensationStep(
            action=StepAction.START_INSTANCE, target=instance_id, description=f"Start {instance_id} again"
        ),
    )
    terminate = ExecutionStep(
        step_id=f"terminate-{n}",
        phase=StepPhase.FINALIZE,
        action=StepAction.TERMINATE_INSTANCE,
        target=instance_id,
        description=f"Terminate {instance_id}, replaced by {successor}",
    )
    return stop, terminate
