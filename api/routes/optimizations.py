from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import (
    Operator,
    SessionsDep,
    SettingsDep,
    TemporalDep,
    Viewer,
    require_customer,
    scoped_customer,
)
from api.errors import CONFLICT, NOT_FOUND, StrictJSONRoute
from api.responses import OptimizationStarted
from api.schemas import IDENTIFIER, OptimizationCreate, Page, PageQuery
from api.workflow_queries import query_owned_workflow
from optiinfra.control.listing import OptimizationFilter, OptimizationRun, page_optimizations
from optiinfra.control.optimizations import UnknownWorkloadError, start_optimization
from optiinfra.store import repository
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import OptimizationStatus

router = APIRouter(prefix="/optimizations", tags=["optimizations"], route_class=StrictJSONRoute)

AGENT_FILTER = r"^(cost|performance|resource|application|joint)$"
PHASE_FILTER = r"^[a-z_]{1,32}$"


@router.post("", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def create_optimization(
    body: OptimizationCreate,
    client: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Operator,
) -> OptimizationStarted:
    """Start one optimization workflow per requested agent for a workload. Audited."""
    require_customer(principal, body.customer_id)
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
    async with sessions.begin() as session:
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action="optimization.started",
            subject=f"{body.customer_id}/{body.workload_id}",
            customer_id=body.customer_id,
            detail={"workflow_ids": workflow_ids, "agents": [agent.value for agent in body.agents]},
        )
    return OptimizationStarted(workflow_id=workflow_ids[0], workflow_ids=workflow_ids)


@router.get("")
async def list_optimizations(
    client: TemporalDep,
    principal: Viewer,
    paging: PageQuery,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    workload_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    agent: Annotated[str | None, Query(pattern=AGENT_FILTER)] = None,
    status: Annotated[str | None, Query(pattern=PHASE_FILTER, description="e.g. pending_approval")] = None,
) -> Page[OptimizationRun]:
    """Agent and joint optimization runs from Temporal's visibility store, newest first; a customer's
    principal sees its own customer's only."""
    where = OptimizationFilter(
        customer_id=scoped_customer(principal, customer_id),
        workload_id=workload_id,
        agent=agent,
        phase=status,
    )
    items, total = await page_optimizations(
        client=client, where=where, limit=paging.limit, offset=paging.offset
    )
    return Page.of(items, total, paging)


@router.get("/{workflow_id:path}", responses=NOT_FOUND | CONFLICT)
async def get_optimization(
    workflow_id: Annotated[str, Path(description="e.g. opt/demo/chat-8b/cost/1", max_length=255)],
    client: TemporalDep,
    principal: Viewer,
) -> OptimizationStatus:
    """The live status of an optimization, from the workflow's `get_status` query."""
    handle = client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    answer: OptimizationStatus = await query_owned_workflow(
        handle,
        AgentOptimizationWorkflow.get_status,
        workflow_type=AgentOptimizationWorkflow.__name__,
        principal=principal,
    )
    return answer
