"""`optiinfra run`: one joint optimization of every workload of the fleet (the four agents as one team),
then a report."""

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from pydantic import BaseModel

from api.schemas import RecommendationDetail
from optiinfra.cli.api_client import ApiClient
from workflows.contracts import JointPhase, JointStatus, OptimizationStatus, WorkflowPhase

# Phases after which nothing more happens without a person (or a timer measured in hours).
SETTLED = {
    WorkflowPhase.NO_ACTION,
    WorkflowPhase.PENDING_APPROVAL,
    WorkflowPhase.EXECUTED,
    WorkflowPhase.ROLLED_BACK,
    WorkflowPhase.FAILED,
    WorkflowPhase.REJECTED,
    WorkflowPhase.EXPIRED,
}
JOINT_SETTLED = {JointPhase.DONE, JointPhase.NO_ACTION}

T = TypeVar("T")


class WorkloadRun(BaseModel):
    """A workload's joint optimization and the first change it carried out (or waits to carry out)."""

    customer_id: str
    workload_id: str
    agent: str
    workflow_id: str
    status: OptimizationStatus
    recommendation: RecommendationDetail | None = None
    joint: JointStatus | None = None


async def optimize_fleet(api: ApiClient, *, timeout_s: float = 180.0) -> list[WorkloadRun]:
    """Start one joint optimization per workload and wait until each settles."""
    workloads = await api.list_workloads()
    started = [
        (w.customer_id, w.workload_id, await api.start_joint_optimization(w.customer_id, w.workload_id))
        for w in workloads
    ]
    runs = await asyncio.gather(
        *(
            settle_joint(api, customer, workload, joint_id, timeout_s)
            for customer, workload, joint_id in started
        )
    )
    return list(runs)


async def settle_joint(
    api: ApiClient, customer_id: str, workload_id: str, joint_id: str, timeout_s: float
) -> WorkloadRun:
    """Wait until the joint optimization ends, or until the change it carries out waits for a person."""
    deadline = time.monotonic() + timeout_s
    while True:
        joint = await _poll(api.joint_status(joint_id))
        if joint is not None and joint.executions:
            first = joint.executions[0]
            child = await _poll(api.optimization_status(first.workflow_id))
            if child is not None and child.phase in SETTLED:
                recommendation = None
                if child.recommendation is not None:
                    recommendation = await api.get_recommendation(child.recommendation.recommendation_id)
                return WorkloadRun(
                    customer_id=customer_id,
                    workload_id=workload_id,
                    agent=first.agent.value,
                    workflow_id=first.workflow_id,
                    status=child,
                    recommendation=recommendation,
                    joint=joint,
                )
        elif joint is not None and joint.phase in JOINT_SETTLED:
            notes = joint.notes + [note for found in joint.proposals for note in found.notes]
            return WorkloadRun(
                customer_id=customer_id,
                workload_id=workload_id,
                agent="joint",
                workflow_id=joint_id,
                status=OptimizationStatus(workflow_id=joint_id, phase=WorkflowPhase.NO_ACTION, notes=notes),
                joint=joint,
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{joint_id} did not settle within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)


async def settle(
    api: ApiClient, customer_id: str, workload_id: str, agent: str, workflow_id: str, timeout_s: float
) -> WorkloadRun:
    """Wait until one agent's optimization settles."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await _poll(api.optimization_status(workflow_id))
        if status is not None and status.phase in SETTLED:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workflow_id} did not settle within {timeout_s:.0f}s")
        await asyncio.sleep(0.5)
    recommendation = None
    if status.recommendation is not None:
        recommendation = await api.get_recommendation(status.recommendation.recommendation_id)
    return WorkloadRun(
        customer_id=customer_id,
        workload_id=workload_id,
        agent=agent,
        workflow_id=workflow_id,
        status=status,
        recommendation=recommendation,
    )


async def _poll(request: Awaitable[T]) -> T | None:
    """The answer, or None while the workflow is not there or not answering yet."""
    try:
        return await request
    except Exception:
        return None
