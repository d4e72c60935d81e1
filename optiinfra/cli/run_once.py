"""`optiinfra run`: one full optimization of every workload of the fleet, then a report."""

import asyncio
import time

from pydantic import BaseModel

from api.schemas import RecommendationDetail
from optiinfra.cli.api_client import ApiClient
from optiinfra.domain.fleet import Workload
from workflows.contracts import OptimizationStatus, WorkflowPhase

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


class WorkloadRun(BaseModel):
    customer_id: str
    workload_id: str
    agent: str
    workflow_id: str
    status: OptimizationStatus
    recommendation: RecommendationDetail | None = None


def agent_for(workload: Workload) -> str:
    """The agent a fleet run starts for a workload: the Performance agent for one served by a Kubernetes
    Deployment (replicas, batching), the Cost agent for one on instances of its own."""
    return "performance" if workload.on_kubernetes else "cost"


async def optimize_fleet(api: ApiClient, *, timeout_s: float = 180.0) -> list[WorkloadRun]:
    """Start one optimization per workload (by `agent_for`) and wait until each settles."""
    workloads = (await api.list_workloads()).items
    started = [
        (
            w,
            agent_for(w),
            (await api.start_optimization(w.customer_id, w.workload_id, [agent_for(w)])).workflow_id,
        )
        for w in workloads
    ]
    runs = await asyncio.gather(
        *(settle(api, w.customer_id, w.workload_id, agent, wid, timeout_s) for w, agent, wid in started)
    )
    return list(runs)


async def settle(
    api: ApiClient, customer_id: str, workload_id: str, agent: str, workflow_id: str, timeout_s: float
) -> WorkloadRun:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = await api.optimization_status(workflow_id)
        except Exception:
            status = None
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
