from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Operator, SessionsDep, SettingsDep, TemporalDep, Viewer, require_customer
from api.errors import CONFLICT, NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER
from api.workflow_queries import query_owned_workflow
from optiinfra.control.joint import start_joint_optimization
from optiinfra.control.optimizations import UnknownWorkloadError
from optiinfra.domain.agent_choice import DistinctAgents
from optiinfra.domain.coordination import CustomerConstraints
from optiinfra.store import repository
from workflows.contracts import ALL_AGENTS, JointStatus
from workflows.joint_optimization import JointOptimizationWorkflow

router = APIRouter(prefix="/joint-optimizations", tags=["joint optimizations"], route_class=StrictJSONRoute)


class ConstraintsBody(CustomerConstraints):
    """The constraints as a request states them: an unknown (e.g. misspelt) limit is refused rather than
    dropped, which would run the optimization without the limit the customer meant to set."""

    model_config = ConfigDict(extra="forbid")


class JointOptimizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=IDENTIFIER)
    workload_id: str = Field(pattern=IDENTIFIER)
    agents: DistinctAgents = Field(
        default_factory=lambda: list(ALL_AGENTS), min_length=1, json_schema_extra={"uniqueItems": True}
    )
    constraints: ConstraintsBody = Field(default_factory=ConstraintsBody)


class JointOptimizationStarted(BaseModel):
    workflow_id: str


@router.post("", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def create_joint_optimization(
    body: JointOptimizationCreate,
    client: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Operator,
) -> JointOptimizationStarted:
    """Start the agents on a workload as one team: proposals, conflicts, resolutions, then execution.
    Audited."""
    require_customer(principal, body.customer_id)
    try:
        workflow_id = await start_joint_optimization(
            client=client,
            sessions=sessions,
            settings=settings,
            customer_id=body.customer_id,
            workload_id=body.workload_id,
            agents=body.agents,
            constraints=CustomerConstraints.model_validate(body.constraints.model_dump()),
        )
    except UnknownWorkloadError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    async with sessions.begin() as session:
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action="joint_optimization.started",
            subject=f"{body.customer_id}/{body.workload_id}",
            customer_id=body.customer_id,
            detail={"workflow_id": workflow_id, "agents": [agent.value for agent in body.agents]},
        )
    return JointOptimizationStarted(workflow_id=workflow_id)


@router.get("/{workflow_id:path}", responses=NOT_FOUND | CONFLICT)
async def get_joint_optimization(
    workflow_id: Annotated[str, Path(description="e.g. joint/demo/chat-8b/1", max_length=255)],
    client: TemporalDep,
    principal: Viewer,
) -> JointStatus:
    """Proposals, conflicts, resolutions and executions, from the workflow's `get_status` query."""
    handle = client.get_workflow_handle_for(JointOptimizationWorkflow.run, workflow_id)
    answer: JointStatus = await query_owned_workflow(
        handle,
        JointOptimizationWorkflow.get_status,
        workflow_type=JointOptimizationWorkflow.__name__,
        principal=principal,
    )
    return answer
