from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.deps import SessionsDep, SettingsDep, TemporalDep
from api.schemas import OptimizationCreate, OptimizationStarted
from api.workflow_queries import query_workflow
from optiinfra.control.optimizations import UnknownWorkloadError, start_optimization
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import OptimizationStatus

router = APIRouter(prefix="/optimizations", tags=["optimizations"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_optimization(
    body: OptimizationCreate, client: TemporalDep, sessions: SessionsDep, settings: SettingsDep
) -> OptimizationStarted:
    """Start one optimization workflow per requested agent for a workload."""
    workflow_ids: list[str] = []
    for agent in body.agents:
        try:
            workflow_ids.append(
                await start_optimization(
                    client=client,
                    sessions=sessions,
                    settings=settings,
                    customer_id=body.customer_id,
                    workload_id=body.workload_id,
                    agent=agent,
                )
            )
        except UnknownWorkloadError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    return OptimizationStarted(workflow_id=workflow_ids[0], workflow_ids=workflow_ids)


@router.get("/{workflow_id:path}")
async def get_optimization(
    workflow_id: Annotated[str, Path(description="e.g. opt/demo/chat-8b/cost/1")], client: TemporalDep
) -> OptimizationStatus:
    """The live status of an optimization, from the workflow's `get_status` query."""
    handle = client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    answer: OptimizationStatus = await query_workflow(handle, AgentOptimizationWorkflow.get_status)
    return answer
