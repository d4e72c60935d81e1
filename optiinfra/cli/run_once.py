"""`optiinfra run`: one joint optimization of every workload of the fleet (the four agents as one team),
then a report. What each workload's team is doing is told to a `FleetProgress` as the run polls it."""

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel

from api.responses import RecommendationDetail
from optiinfra.cli.api_client import ApiClient
from workflows.contracts import ALL_AGENTS, JointPhase, JointStatus, OptimizationStatus, WorkflowPhase

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
POLL_S = 0.5

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


@dataclass(frozen=True)
class WorkloadProgress:
    """Where one workload's joint optimization stands, as the run last saw it."""

    workload: str
    """customer/workload"""
    phase: str
    """The team's phase (proposing, resolving), then that of the first change it carries out"""
    detail: str
    settled: bool = False
    """Nothing more happens without a person: the run is done with this workload"""


class FleetProgress(Protocol):
    """Hears what the run does, e.g. to show it as it goes."""

    def stage(self, text: str) -> None:
        """A step of the run starts (and the one before it ends)."""

    def workload(self, progress: WorkloadProgress) -> None:
        """A workload's optimization moved on."""


class _Unheard:
    def stage(self, text: str) -> None:
        pass

    def workload(self, progress: WorkloadProgress) -> None:
        pass


def describe(
    workload: str, joint: JointStatus | None, change: OptimizationStatus | None, *, settled: bool = False
) -> WorkloadProgress:
    """What a workload's team is doing, from the statuses the run polls: the joint optimization's, and
    that of the first change it carries out once there is one."""
    if joint is None:
        return WorkloadProgress(workload, "starting", "waiting for its workflow to answer")
    if joint.executions:
        first = joint.executions[0]
        phase = change.phase if change is not None else first.phase
        return WorkloadProgress(
            workload,
            phase.value if phase is not None else "starting",
            f"{first.agent.value} agent: {first.title}",
            settled,
        )
    proposed = [found for found in joint.proposals if found.proposals]
    if joint.phase is JointPhase.PROPOSING:
        names = [agent.value for agent in ALL_AGENTS]
        agents = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        return WorkloadProgress(workload, "proposing", f"the {agents} agents analyse it")
    if joint.phase is JointPhase.RESOLVING:
        by = ", ".join(found.agent.value for found in proposed)
        return WorkloadProgress(
            workload, "resolving", f"{len(proposed)} proposal(s) ({by}): resolving their conflicts"
        )
    if joint.phase in JOINT_SETTLED:
        return WorkloadProgress(workload, WorkflowPhase.NO_ACTION.value, "nothing to do", settled)
    return WorkloadProgress(workload, joint.phase.value, "starting the first change")


async def optimize_fleet(
    api: ApiClient, *, timeout_s: float = 180.0, progress: FleetProgress | None = None
) -> list[WorkloadRun]:
    """Start one joint optimization per workload and wait until each settles."""
    told = progress or _Unheard()
    workloads = await api.list_workloads()
    told.stage(f"Optimizing {len(workloads)} workload(s), the agents of each as one team")
    started: list[tuple[str, str, str]] = []
    for w in workloads:
        started.append(
            (w.customer_id, w.workload_id, await api.start_joint_optimization(w.customer_id, w.workload_id))
        )
        told.workload(describe(f"{w.customer_id}/{w.workload_id}", None, None))
    runs = await asyncio.gather(
        *(
            settle_joint(api, customer, workload, joint_id, timeout_s, progress=told)
            for customer, workload, joint_id in started
        )
    )
    return list(runs)


async def settle_joint(
    api: ApiClient,
    customer_id: str,
    workload_id: str,
    joint_id: str,
    timeout_s: float,
    *,
    progress: FleetProgress | None = None,
) -> WorkloadRun:
    """Wait until the joint optimization ends, or until the change it carries out waits for a person."""
    told = progress or _Unheard()
    name = f"{customer_id}/{workload_id}"
    last: WorkloadProgress | None = None

    def tell(seen: WorkloadProgress) -> None:
        nonlocal last
        if seen != last:
            told.workload(seen)
            last = seen

    deadline = time.monotonic() + timeout_s
    while True:
        joint = await _poll(api.joint_status(joint_id))
        child: OptimizationStatus | None = None
        if joint is not None and joint.executions:
            first = joint.executions[0]
            child = await _poll(api.optimization_status(first.workflow_id))
            if child is not None and child.phase in SETTLED:
                tell(describe(name, joint, child, settled=True))
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
            tell(describe(name, joint, None, settled=True))
            notes = joint.notes + [note for found in joint.proposals for note in found.notes]
            return WorkloadRun(
                customer_id=customer_id,
                workload_id=workload_id,
                agent="joint",
                workflow_id=joint_id,
                status=OptimizationStatus(workflow_id=joint_id, phase=WorkflowPhase.NO_ACTION, notes=notes),
                joint=joint,
            )
        tell(describe(name, joint, child))
        if time.monotonic() > deadline:
            raise TimeoutError(f"{joint_id} did not settle within {timeout_s:.0f}s")
        await asyncio.sleep(POLL_S)


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
        await asyncio.sleep(POLL_S)
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
