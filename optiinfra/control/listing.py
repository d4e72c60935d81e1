"""Finding optimizations in Temporal's visibility store: the runs of a customer, a workload or an agent,
in a phase, newest first; and which customer a run belongs to."""

from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.joint_optimization import JointOptimizationWorkflow
from workflows.search_attributes import OPTI_AGENT, OPTI_CUSTOMER, OPTI_STATUS, OPTI_WORKLOAD

OPTIMIZATION_TYPES = (AgentOptimizationWorkflow.__name__, JointOptimizationWorkflow.__name__)


class OptimizationFilter(BaseModel):
    customer_id: str | None = None
    workload_id: str | None = None
    agent: str | None = None
    phase: str | None = None


class OptimizationRun(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    customer_id: str | None
    workload_id: str | None
    agent: str | None
    phase: str | None
    execution_status: str
    started_at: datetime
    closed_at: datetime | None


def visibility_query(where: OptimizationFilter) -> str:
    """A list-filter over the project's search attributes; values are identifiers or enum values, which
    the API validates, and quotes are escaped regardless."""
    types = " OR ".join(f"WorkflowType = {_quoted(name)}" for name in OPTIMIZATION_TYPES)
    clauses = [f"({types})"]
    for key, value in (
        (OPTI_CUSTOMER, where.customer_id),
        (OPTI_WORKLOAD, where.workload_id),
        (OPTI_AGENT, where.agent),
        (OPTI_STATUS, where.phase),
    ):
        if value is not None:
            clauses.append(f"{key.name} = {_quoted(value)}")
    return " AND ".join(clauses)


async def page_optimizations(
    *, client: Client, where: OptimizationFilter, limit: int, offset: int
) -> tuple[list[OptimizationRun], int]:
    """Newest first (visibility's order), and how many runs match."""
    query = visibility_query(where)
    total = (await client.count_workflows(query)).count
    runs: list[OptimizationRun] = []
    seen = 0
    async for execution in client.list_workflows(query, limit=offset + limit):
        seen += 1
        if seen > offset:
            runs.append(_run_of(execution))
    return runs, total


def customer_of(execution: WorkflowExecution) -> str | None:
    return execution.typed_search_attributes.get(OPTI_CUSTOMER)


def _run_of(execution: WorkflowExecution) -> OptimizationRun:
    attributes = execution.typed_search_attributes
    status = execution.status or WorkflowExecutionStatus.RUNNING
    return OptimizationRun(
        workflow_id=execution.id,
        run_id=execution.run_id,
        workflow_type=execution.workflow_type,
        customer_id=attributes.get(OPTI_CUSTOMER),
        workload_id=attributes.get(OPTI_WORKLOAD),
        agent=attributes.get(OPTI_AGENT),
        phase=attributes.get(OPTI_STATUS),
        execution_status=status.name.lower(),
        started_at=execution.start_time,
        closed_at=execution.close_time,
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
