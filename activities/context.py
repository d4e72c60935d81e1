"""What an activity knows of the workflow that called it."""

from temporalio import activity
from temporalio.exceptions import ApplicationError


def current_workflow_id() -> str:
    """The calling workflow's id: the root of every idempotency key and audit actor."""
    workflow_id = activity.info().workflow_id
    if workflow_id is None:
        raise ApplicationError("this activity runs only inside a workflow", non_retryable=True)
    return workflow_id
