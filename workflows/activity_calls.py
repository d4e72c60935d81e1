"""What the workflows share when they call activities: the request's timeouts and retries, which activity
undoes a step, and the step result that records a failed call. Workflow code: deterministic, no I/O."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.enums import StepAction, StepStatus
    from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, StepResult
    from workflows.contracts import RETRY_MAX_INTERVAL_SECONDS, ActivityName, ExecutionTiming
    from workflows.task_queues import activity_task_queue


async def call_activity(
    timing: ExecutionTiming,
    name: str,
    arg: Any = None,
    result_type: type | None = None,
    *,
    summary: str | None = None,
    heartbeat: bool = False,
) -> Any:
    """Run activity `name` (with `arg`, if any) under `timing`, on the task queue of its kind: its
    start-to-close timeout, a heartbeat timeout when the activity heartbeats, and retries backing off from
    1 s to 30 s."""
    return await workflow.execute_activity(
        name,
        args=[] if arg is None else [arg],
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=timing.activity_timeout_seconds),
        heartbeat_timeout=timedelta(seconds=timing.activity_heartbeat_seconds) if heartbeat else None,
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(seconds=RETRY_MAX_INTERVAL_SECONDS),
            maximum_attempts=timing.activity_max_attempts,
        ),
        summary=summary,
        task_queue=activity_task_queue(name),
    )


def compensation_activity(action: StepAction) -> str:
    """The activity that carries out a compensation: Kubernetes or cloud."""
    return ActivityName.COMPENSATE_KUBE_STEP if action.on_kubernetes else ActivityName.COMPENSATE_STEP


def failed_step_result(
    step_id: str,
    step: ExecutionStep | CompensationStep,
    error: ActivityError,
    status: StepStatus = StepStatus.FAILED,
) -> StepResult:
    """The record of a step (or compensation) whose activity failed, with the failure's own message."""
    cause = error.cause
    detail = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
    return StepResult(
        step_id=step_id,
        action=step.action,
        target=step.target,
        status=status,
        detail=detail,
        finished_at=workflow.now(),
    )
