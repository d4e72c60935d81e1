"""Answering a GET from a workflow's query, for the principal's own customer's workflows of the right
kind only, with the engine's errors turned into HTTP ones."""

from datetime import timedelta
from typing import Any

from fastapi import HTTPException, status
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import RETRY_AFTER_S
from optiinfra.access.principal import Principal
from optiinfra.control.listing import customer_of

# A query waits for a worker to answer; none running must not hold the request open.
QUERY_TIMEOUT = timedelta(seconds=10)


async def query_owned_workflow(
    handle: WorkflowHandle[Any, Any], query: Any, *, workflow_type: str, principal: Principal
) -> Any:
    """404 when there is no such workflow, when it is of another kind (an agent run's id on the joint route)
    or of another customer; 409 when it cannot answer (e.g. its task is failing)."""
    missing = HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {workflow_type} {handle.id}")
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise missing from error
        raise
    owner = customer_of(described)
    if described.workflow_type != workflow_type or owner is None or not principal.can_act_on(owner):
        raise missing
    try:
        return await handle.query(query, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise missing from error
        if error.status is RPCStatusCode.DEADLINE_EXCEEDED:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"no worker answered within {QUERY_TIMEOUT.seconds} s; is a worker running?",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from error
        raise
    except WorkflowQueryFailedError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
