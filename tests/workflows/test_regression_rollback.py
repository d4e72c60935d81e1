"""Regression defense end to end: an executed change that makes the twin serve worse is caught by the
regression watch and rolled back by its own compensations, and the outcome is learned.

The Performance agent scales an over-provisioned Deployment down (drain first). The twin then answers the
same traffic with fewer replicas, and its latency windows show p99 60% above the baseline. The watch that
follows every verified change compares with the baseline measured before the change, confirms the
regression by the rules, asks for a root-cause note, and the saga restores the replicas. A second run of
the same agent proposes the same change with lower confidence, citing the rolled-back one."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.domain.enums import DecisionKind, RecommendationStatus, StepAction, StepStatus
from optiinfra.domain.recommendation import Approval
from optiinfra.store import repository
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import wait_for_phase
from tests.workflows.kube_harness import (
    NAME,
    NAMESPACE,
    REPLICAS,
    PerformanceHarness,
    kube_harness,
    window_rows,
)
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import ActivityName, WorkflowPhase

WATCH_SECONDS = 6
SLOWER = 1.6


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


async def _serve_slower_once_scaled_down(harness: PerformanceHarness) -> None:
    """The twin's answer to fewer replicas: the same traffic, p99 latencies SLOWER times the baseline."""
    while True:
        if harness.twin.cluster.deployment(NAMESPACE, NAME)["spec"]["replicas"] < REPLICAS:
            break
        await asyncio.sleep(0.1)
    pods = [pod["metadata"]["name"] for pod in harness.twin.cluster.pods(NAMESPACE)]
    await harness.metrics.write_window_stats(window_rows(pods, datetime.now(UTC), 1, latency=SLOWER))


async def _approve(handle: object) -> float:
    status = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)  # type: ignore[arg-type]
    await handle.signal(  # type: ignore[attr-defined]
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="sre@demo")
    )
    assert status.recommendation is not None
    return status.recommendation.confidence


async def test_a_change_that_regresses_latency_is_rolled_back_and_remembered(
    performance: PerformanceHarness,
) -> None:
    twin = asyncio.create_task(_serve_slower_once_scaled_down(performance))
    handle = await performance.run(regression_watch_seconds=WATCH_SECONDS)
    first_confidence = await _approve(handle)
    status = await handle.result()
    await twin

    assert status.phase is WorkflowPhase.ROLLED_BACK, status.failure_reason
    verdict = status.regression
    assert verdict is not None and verdict.regressed
    assert {f.metric.value for f in verdict.findings} >= {"ttft_p99"}
    assert verdict.current.ttft_p99_s == pytest.approx(verdict.baseline.ttft_p99_s * SLOWER, rel=0.2)
    assert status.failure_reason is not None and status.failure_reason.startswith(
        "regression after the change"
    )
    assert status.root_cause is not None and status.root_cause.summary
    # The saga put the replicas back.
    assert performance.twin.cluster.deployment(NAMESPACE, NAME)["spec"]["replicas"] == REPLICAS
    compensated = [r for r in status.step_results if r.status is StepStatus.COMPENSATED]
    assert {r.action for r in compensated} >= {StepAction.SCALE_DEPLOYMENT}
    assert status.recommendation is not None
    async with performance.sessions() as session:
        stored = await repository.get_recommendation(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    assert stored is not None and stored.status is RecommendationStatus.ROLLED_BACK

    # In the history: the watch's comparison, the root-cause note, then the compensation, in that order.
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    check = scheduled.index(ActivityName.CHECK_REGRESSION)
    explain = scheduled.index(ActivityName.EXPLAIN_REGRESSION)
    undo = scheduled.index(ActivityName.COMPENSATE_KUBE_STEP)
    assert scheduled.index(ActivityName.MEASURE_SERVING_HEALTH) < scheduled.index(
        ActivityName.EXECUTE_KUBE_STEP
    )
    assert check < explain < undo
    assert ActivityName.RECORD_LEARNED_OUTCOME in scheduled[undo:]

    # The next proposal of the same change carries less confidence and says why.
    again = await performance.run(regression_watch_seconds=WATCH_SECONDS)
    pending = await wait_for_phase(again, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    assert pending.recommendation is not None
    assert pending.recommendation.confidence < first_confidence
    assert status.recommendation.recommendation_id in pending.recommendation.reasoning
    [adjustment] = pending.confidence_adjustments[:1]
    assert adjustment.after < adjustment.before and adjustment.cited
    await again.terminate("test done")
