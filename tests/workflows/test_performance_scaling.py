"""The Performance agent end to end: a real worker against the real dev server, the official Kubernetes
client over HTTP against the twin's Kubernetes endpoint, vLLM /metrics served over HTTP.

A Deployment provisioned far above its traffic is scaled down drain-first: the pods to remove leave the
Service, their in-flight requests finish, and only then does the scale-down remove exactly them. When the
scale step fails halfway (after the drain), the saga puts the drained pods back and the Deployment's spec
is as it was."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.domain.enums import DecisionKind, RecommendationStatus, StepAction, StepStatus
from optiinfra.domain.kube import DELETION_COST_ANNOTATION, SERVE_LABEL
from optiinfra.domain.recommendation import Approval
from optiinfra.store import repository
from optiinfra.store.locks import acquire_workload_lock, release_workload_lock
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import wait_for_phase, wait_for_status
from tests.workflows.kube_harness import NAME, NAMESPACE, REPLICAS, PerformanceHarness, kube_harness
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

LEASE = timedelta(hours=1)


@pytest.fixture
async def performance(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> AsyncIterator[PerformanceHarness]:
    _, sessions = harness_store
    async with kube_harness(temporal_client, seeded_cloud, sessions, tmp_path) as harness:
        yield harness


async def _approve(handle: Any) -> Any:
    status = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="sre@demo")
    )
    return status


async def test_scale_down_drains_in_flight_requests_before_a_replica_is_removed(
    performance: PerformanceHarness,
) -> None:
    handle = await performance.run()
    pending = await _approve(handle)
    recommendation = pending.recommendation
    drain, scale = recommendation.steps
    assert (drain.action, scale.action) == (StepAction.DRAIN_PODS, StepAction.SCALE_DEPLOYMENT)
    drained = drain.params["pods"].split(",")
    target = int(scale.params["replicas"])
    assert target == REPLICAS - len(drained) and target >= 1

    status = await handle.result()
    assert status.phase is WorkflowPhase.EXECUTED, status.failure_reason
    results = [(r.action, r.status) for r in status.step_results]
    assert results == [
        (StepAction.DRAIN_PODS, StepStatus.SUCCEEDED),
        (StepAction.SCALE_DEPLOYMENT, StepStatus.SUCCEEDED),
    ]
    deployment = performance.twin.cluster.deployment(NAMESPACE, NAME)
    assert deployment["spec"]["replicas"] == target
    remaining = {pod["metadata"]["name"] for pod in performance.twin.cluster.pods(NAMESPACE)}
    assert remaining.isdisjoint(drained) and len(remaining) == target
    deleted = {pod for pod, _, _ in performance.twin.deletions}
    assert deleted == set(drained)
    for pod, serving, in_flight in performance.twin.deletions:
        assert not serving, f"{pod} was deleted while still in the Service"
        assert in_flight == 0, f"{pod} was deleted holding {in_flight} requests"


async def test_a_scale_step_that_fails_after_the_drain_restores_the_deployment(
    performance: PerformanceHarness,
) -> None:
    cluster = performance.twin.cluster
    before = cluster.deployment(NAMESPACE, NAME)["spec"]
    cluster.fail_next("PATCH", f"*/deployments/{NAME}/scale", status=403, reason="Forbidden", times=5)
    handle = await performance.run()
    await _approve(handle)
    status = await handle.result()
    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None and "Forbidden" in status.failure_reason
    actions = [(r.action, r.status) for r in status.step_results]
    assert actions == [
        (StepAction.DRAIN_PODS, StepStatus.SUCCEEDED),
        (StepAction.SCALE_DEPLOYMENT, StepStatus.FAILED),
        (StepAction.SCALE_DEPLOYMENT, StepStatus.COMPENSATED),
        (StepAction.RESTORE_PODS, StepStatus.COMPENSATED),
    ]
    assert cluster.deployment(NAMESPACE, NAME)["spec"] == before
    pods = cluster.pods(NAMESPACE)
    assert len(pods) == REPLICAS and not performance.twin.deletions
    for pod in pods:
        metadata = pod["metadata"]
        assert metadata["labels"][SERVE_LABEL] == "true"
        assert DELETION_COST_ANNOTATION not in metadata.get("annotations", {})


async def test_a_scale_down_computed_before_someone_resized_the_deployment_is_superseded(
    performance: PerformanceHarness,
) -> None:
    """Approved after a person scaled the Deployment by hand: the drain and scale were computed for the old
    replica count, so the run re-reads the Deployment before its first step, ends superseded and leaves the
    Deployment as the person set it."""
    handle = await performance.run()
    pending = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    assert pending.recommendation.steps[-1].params["previous_replicas"] == str(REPLICAS)
    cluster = performance.twin.cluster
    cluster.patch_scale(NAMESPACE, NAME, "application/merge-patch+json", {"spec": {"replicas": REPLICAS - 1}})
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="sre@demo")
    )
    status = await handle.result()
    assert status.phase is WorkflowPhase.SUPERSEDED
    assert status.step_results == []
    assert f"has {REPLICAS - 1} replicas, the recommendation was computed for {REPLICAS}" in (
        status.failure_reason or ""
    )
    assert cluster.deployment(NAMESPACE, NAME)["spec"]["replicas"] == REPLICAS - 1
    drained = [
        pod["metadata"]["name"]
        for pod in cluster.pods(NAMESPACE)
        if pod["metadata"].get("labels", {}).get(SERVE_LABEL) == "false"
    ]
    assert drained == [], "no pod was taken out of the Service"
    async with performance.sessions() as session:
        stored = await repository.get_recommendation_by_workflow(session=session, workflow_id=handle.id)
    assert stored is not None and stored.status is RecommendationStatus.SUPERSEDED


async def test_a_run_waits_while_another_changes_the_workload_and_gives_up_when_it_does_not_finish(
    performance: PerformanceHarness,
) -> None:
    """Another optimization of the workload holds its lock: the approved run waits, polling, and when the
    other does not let go within the wait it ends superseded, having changed nothing."""
    async with performance.sessions.begin() as session:
        assert (
            await acquire_workload_lock(
                session=session, customer_id="demo", workload_id=NAME, holder="opt/demo/other", lease=LEASE
            )
            is None
        )
    handle = await performance.run(lock_poll_seconds=1, lock_wait_seconds=3)
    await _approve(handle)
    waiting = await wait_for_status(
        handle, lambda status: "waiting for opt/demo/other" in (status.gate_reason or ""), "the lock wait"
    )
    assert waiting.phase is WorkflowPhase.APPROVED
    status = await handle.result()
    assert status.phase is WorkflowPhase.SUPERSEDED and status.step_results == []
    assert "another optimization of this workload (opt/demo/other)" in (status.failure_reason or "")
    assert performance.twin.cluster.deployment(NAMESPACE, NAME)["spec"]["replicas"] == REPLICAS

    async with performance.sessions.begin() as session:  # once it lets go, the next run goes ahead
        assert await release_workload_lock(
            session=session, customer_id="demo", workload_id=NAME, holder="opt/demo/other"
        )
    again = await performance.run(lock_poll_seconds=1, lock_wait_seconds=3)
    await _approve(again)
    assert (await again.result()).phase is WorkflowPhase.EXECUTED


async def test_by_default_a_run_waits_out_the_holders_lease_and_then_takes_the_lock_over(
    performance: PerformanceHarness,
) -> None:
    """A holder terminated without letting go: with no wait configured, the next run waits as long as the
    lease the holder stated, then takes the lock over and executes."""
    handle = await performance.run(lock_poll_seconds=1)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    async with performance.sessions.begin() as session:
        held = await acquire_workload_lock(
            session=session,
            customer_id="demo",
            workload_id=NAME,
            holder="opt/demo/terminated",
            lease=timedelta(seconds=5),
        )
        assert held is None
    await _approve(handle)
    waiting = await wait_for_status(
        handle,
        lambda status: "waiting for opt/demo/terminated" in (status.gate_reason or ""),
        "the lock wait",
    )
    assert "its lease ends" in (waiting.gate_reason or "")
    assert (await handle.result()).phase is WorkflowPhase.EXECUTED
