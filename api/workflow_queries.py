"""Answering a GET from a workflow's query, with the engine's errors turned into HTTP ones."""

from typing import Any

from fastapi import HTTPException, status
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode


async def query_workflow(handle: WorkflowHandle[Any, Any], query: Any) -> Any:
    """404 when there is no such workflow, 409 when it cannot answer (e.g. its task is failing)."""
    try:
        return await handle.query(query)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no workflow {handle.id}") from error
        raise
    except WorkflowQueryFailedError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
