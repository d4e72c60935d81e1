"""Joint optimization end to end: the four agents as children of one parent on the real dev server, the
twin's EC2 (moto over HTTP) and Kubernetes API, vLLM latency windows in chdb.

The workload `chat-8b` runs on three g5.8xlarge instances whose GPUs are half idle (the Cost agent wants to
right-size them down) and is served by a Deployment whose latency misses its objective under a load well
above the usual (the Performance agent wants more replicas). The parent records the conflict, Performance
wins by priority, and only its change runs."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from optiinfra.control.joint import start_joint_optimization
from optiinfra.domain.coordination import ConflictKind, CustomerConstraints, ResolutionMethod
from optiinfra.domain.enums import AgentKind, DecisionKind, StepAction
from optiinfra.domain.recommendation import Approval
from optiinfra.store.conflicts import list_conflicts
from tests.support.cloud import SeededCloud
from tests.support.polling import read_retrying
from tests.workflows.conftest import backfill_utilization, fleet_state
from tests.workflows.kube_harness import NAME, NAMESPACE, REPLICAS, PerformanceHarness, kube_harness
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import JointPhase, JointStatus, WorkflowPhase
from workflows.joint_optimization import JointOptimizationWorkflow

WORKLOAD = "chat-8b"


@pytest.fixture
async def overloaded(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> AsyncIterator[PerformanceHarness]:
    _, sessions = harness_store
    await backfill_utilization(seeded_cloud, tmp_path / "metrics")
    async with kube_harness(
        temporal_client, seeded_cloud, sessions, tmp_path, workload_id=WORKLOAD, load=12.0, latency=6.0
    ) as harness:
        yield harness


async def _start(harness: PerformanceHarness, **constraints: Any) -> WorkflowHandle[Any, JointStatus]:
    workflow_id = await start_joint_optimization(
        client=harness.client,
        sessions=harness.sessions,
        settings=harness.settings(),
        customer_id="demo",
        workload_id=WORKLOAD,
        agents=[AgentKind.PERFORMANCE, AgentKind.COST],
        constraints=CustomerConstraints(**constraints),
    )
    return harness.client.get_workflow_handle_for(JointOptimizationWorkflow.run, workflow_id)


async def _joint_phase(handle: WorkflowHandle[Any, JointStatus], *phases: JointPhase) -> JointStatus:
    deadline = time.monotonic() + 120
    while True:
        status = await read_retrying(lambda: handle.query(JointOptimizationWorkflow.get_status))
        if status.phase in phases:
            return status
        assert time.monotonic() < deadline, f"{handle.id} stayed in {status.phase}, expected {phases}"
        await asyncio.sleep(0.3)


async def _approve_child(client: Client, workflow_id: str) -> None:
    handle = client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    deadline = time.monotonic() + 90
    while True:
        try:
            status = await handle.query(AgentOptimizationWorkflow.get_status)
        except Exception:  # not started yet
            status = None
        if status is not None and status.phase is WorkflowPhase.PENDING_APPROVAL:
            break
        if status is not None and status.phase.value in {"executing", "verifying", "watching", "executed"}:
            return  # the gate let it through without a person
        assert time.monotonic() < deadline, f"{workflow_id} never asked for approval"
        await asyncio.sleep(0.3)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="sre@demo")
    )


async def test_performance_scale_up_wins_over_cost_scale_down_and_only_it_executes(
    overloaded: PerformanceHarness, seeded_cloud: SeededCloud
) -> None:
    instances_before = {
        iid: state
        for iid, state in fleet_state(seeded_cloud.fleet).items()
        if iid in seeded_cloud.seeded.instance_ids.get(WORKLOAD, [])
    }
    handle = await _start(overloaded)

    executing = await _joint_phase(handle, JointPhase.EXECUTING)
    proposals = {found.agent: found for found in executing.proposals}
    cost_best = proposals[AgentKind.COST].proposals[0]
    performance_best = proposals[AgentKind.PERFORMANCE].proposals[0]
    assert cost_best.projected_monthly_cost_usd < cost_best.current_monthly_cost_usd, cost_best.title
    scale = next(s for s in performance_best.steps if s.action is StepAction.SCALE_DEPLOYMENT)
    assert int(scale.params["replicas"]) > REPLICAS, performance_best.title

    [conflict] = executing.conflicts
    assert conflict.kind is ConflictKind.OPPOSITE_SCALING
    assert set(conflict.agents) == {AgentKind.COST, AgentKind.PERFORMANCE}
    [resolution] = executing.resolutions
    assert resolution.method is ResolutionMethod.PRIORITY
    assert resolution.winner is AgentKind.PERFORMANCE and resolution.set_aside == [AgentKind.COST]
    assert executing.accepted == [performance_best.title]
    [execution] = executing.executions
    assert execution.agent is AgentKind.PERFORMANCE

    await _approve_child(overloaded.client, execution.workflow_id)
    final = await handle.result()
    assert final.phase is JointPhase.DONE
    assert [e.phase for e in final.executions] == [WorkflowPhase.EXECUTED], final.executions

    # Only the winner's change reached the world: more replicas, the instances untouched.
    deployment = overloaded.twin.cluster.deployment(NAMESPACE, NAME)
    assert deployment["spec"]["replicas"] == int(scale.params["replicas"])
    after = fleet_state(seeded_cloud.fleet)
    assert {iid: after[iid] for iid in instances_before} == instances_before

    # The conflict and its resolution are stored for GET /v1/conflicts.
    async with overloaded.sessions() as session:
        stored = await list_conflicts(session=session, customer_id="demo", workload_id=WORKLOAD)
    mine = [c for c in stored if c.joint_workflow_id == handle.id]
    assert [c.conflict.kind for c in mine] == [ConflictKind.OPPOSITE_SCALING]
    assert mine[0].resolution is not None and mine[0].resolution.winner is AgentKind.PERFORMANCE

    # The histories show it too: two proposing children, one executing child.
    children = [
        event.start_child_workflow_execution_initiated_event_attributes.workflow_id
        async for event in handle.fetch_history_events()
        if event.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert sorted(children) == sorted(
        [f"{handle.id}/performance/propose", f"{handle.id}/cost/propose", f"{handle.id}/performance/execute"]
    )


async def test_a_cost_limit_sets_the_scale_up_aside_and_the_cost_change_goes_ahead(
    overloaded: PerformanceHarness,
) -> None:
    handle = await _start(overloaded, max_monthly_cost_increase_usd=1.0)
    # The right-sizing is low risk for this customer, so it may run through without a person.
    status = await _joint_phase(handle, JointPhase.EXECUTING, JointPhase.DONE)
    [resolution] = status.resolutions
    assert resolution.method is ResolutionMethod.CONSTRAINT
    assert resolution.winner is AgentKind.COST
    assert "limit" in resolution.reason
    [execution] = status.executions
    assert execution.agent is AgentKind.COST
    with contextlib.suppress(RPCError):  # it may have finished on its own meanwhile
        await handle.terminate("test done")
