"""Starting joint optimizations: the four agents on one workload, as a parent workflow and its children."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from optiinfra.control.optimizations import start_numbered_run, timing_from
from optiinfra.domain.coordination import CustomerConstraints
from optiinfra.domain.enums import AgentKind
from optiinfra.settings import Settings
from workflows import priorities
from workflows.contracts import ALL_AGENTS, JointOptimizationRequest, JointPhase
from workflows.joint_optimization import JOINT, JointOptimizationWorkflow
from workflows.search_attributes import OPTI_AGENT, OPTI_CUSTOMER, OPTI_STATUS, OPTI_WORKLOAD


def joint_workflow_id_prefix(customer_id: str, workload_id: str) -> str:
    return f"joint/{customer_id}/{workload_id}"


def joint_request(
    settings: Settings,
    customer_id: str,
    workload_id: str,
    agents: list[AgentKind] | None = None,
    constraints: CustomerConstraints | None = None,
) -> JointOptimizationRequest:
    return JointOptimizationRequest(
        customer_id=customer_id,
        workload_id=workload_id,
        agents=agents or list(ALL_AGENTS),
        timing=timing_from(settings),
        constraints=constraints or CustomerConstraints(),
    )


def joint_search_attributes(customer_id: str, workload_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(OPTI_CUSTOMER, customer_id),
            SearchAttributePair(OPTI_WORKLOAD, workload_id),
            SearchAttributePair(OPTI_AGENT, JOINT),
            SearchAttributePair(OPTI_STATUS, JointPhase.PROPOSING.value),
        ]
    )


async def start_joint_optimization(
    *,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    customer_id: str,
    workload_id: str,
    agents: list[AgentKind] | None = None,
    constraints: CustomerConstraints | None = None,
) -> str:
    """Start a JointOptimizationWorkflow, e.g. `joint/demo/chat-8b/3`, and return its id."""

    async def start(workflow_id: str) -> None:
        await client.start_workflow(
            JointOptimizationWorkflow.run,
            joint_request(settings, customer_id, workload_id, agents, constraints),
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            priority=priorities.interactive(customer_id),
            search_attributes=joint_search_attributes(customer_id, workload_id),
            static_summary=f"joint optimization of {customer_id}/{workload_id}",
        )

    return await start_numbered_run(
        sessions,
        customer_id=customer_id,
        workload_id=workload_id,
        agent=JOINT,
        prefix=joint_workflow_id_prefix(customer_id, workload_id),
        start=start,
    )
