"""Regression defense end to end: the real dev server, a real worker running the watch and the rollback,
the official Kubernetes client over HTTP against the twin's Kubernetes endpoint, latency windows in chdb and
the store on SQLite and PostgreSQL.

Our scale-down of a Deployment executed 40 minutes ago, and TTFT p99 has been 50% above the day before
since: the watch finds the regression, writes the root-cause note (rules: no model configured), and its
child RollbackWorkflow scales the Deployment back; the recommendation ends rolled back, and the workflow
histories show the child started and the compensation scheduled. When serving is as before nothing is
rolled back and no model is asked (the OpenAI stub, configured as the frontier tier, hears nothing)."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowHandle,
)

from activities.kube import KubeActivities
from activities.regression import RegressionActivities
from activities.store import StoreActivities
from agents.reasoning.layering import InferenceLayer
from optiinfra.control.optimizations import timing_from
from optiinfra.domain.enums import RecommendationStatus, StepAction, StepPhase, StepStatus
from optiinfra.domain.fleet import Workload
from optiinfra.domain.kube import DeploymentRef
from optiinfra.domain.recommendation import ExecutionStep, Recommendation
from optiinfra.domain.regression import RegressionMetric, RegressionThresholds
from optiinfra.engine.regression_schedule import ensure_regression_watch_schedule, regression_watch_schedule
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.sim.kube.manifests import vllm_deployment_manifest
from optiinfra.sim.kube.server import start_kube_server
from optiinfra.sim.kube.state import KubeCluster
from optiinfra.store import repository
from tests.agents.regression.builders import frontier_layer, scale_down_change, succeeded, window_stats
from tests.support.openai_stub import OpenAIStub
from tests.support.polling import read_retrying
from tests.workflows.conftest import harness_settings
from workers.group import workers_by_kind
from workflows.contracts import (
    OptimizationStatus,
    RegressionWatchRequest,
    RegressionWatchSummary,
    RollbackRequest,
    WorkflowPhase,
)
from workflows.regression_watch import REGRESSION_WATCH_SCHEDULE_ID, RegressionWatchWorkflow
from workflows.rollback import RollbackWorkflow, rollback_workflow_id

Sessions = async_sessionmaker[AsyncSession]

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
NAMESPACE, NAME = "demo", "watched"
REPLICAS, SCALED_TO = 6, 2
BASELINE_TTFT_P99 = 0.9


@dataclass
class WatchStack:
    client: Client
    sessions: Sessions
    cluster: KubeCluster
    deployments: Deployments
    metrics: AsyncMetricsStore
    task_queue: str

    @property
    def replicas(self) -> int:
        return int(self.cluster.deployment(NAMESPACE, NAME)["spec"]["replicas"])

    async def execute_scale_down(self, finished_at: datetime, *, finalized: bool = False) -> Recommendation:
        """Our change, as an executed agent run leaves it: the Deployment scaled down through the Kubernetes
        API, the recommendation executed with its step result (and a finalize step's, when `finalized`)."""
        extra = (
            ExecutionStep(
                step_id="finalize",
                phase=StepPhase.FINALIZE,
                action=StepAction.SCALE_DEPLOYMENT,
                target=f"{NAMESPACE}/{NAME}",
                params={"replicas": str(SCALED_TO)},
                description="Confirm the replica count",
            ),
        )
        change = scale_down_change(
            recommendation_id=f"rec-{uuid4()}",
            workload_id=NAME,
            target=f"{NAMESPACE}/{NAME}",
            replicas=SCALED_TO,
            previous=REPLICAS,
            created_at=finished_at - timedelta(minutes=5),
            extra_steps=extra if finalized else (),
        )
        await self.deployments.scale(DeploymentRef(namespace=NAMESPACE, name=NAME), SCALED_TO)
        assert self.replicas == SCALED_TO
        async with self.sessions.begin() as session:
            await repository.save_recommendation(session=session, recommendation=change)
            for step in change.steps:
                await repository.record_step_result(
                    session=session,
                    recommendation_id=change.recommendation_id,
                    workflow_id=change.workflow_id,
                    result=succeeded(step, finished_at),
                )
        return change

    async def write_windows(self, now: datetime, *, current_ttft_p99: float) -> None:
        """A day of 10-minute windows per replica before the last hour, then the last hour's."""
        replicas = [f"{NAME}-a", f"{NAME}-b"]
        baseline_start = now - timedelta(hours=25)
        rows = [
            window_stats(
                "demo", NAME, r, baseline_start + n * timedelta(minutes=10), ttft_p99=BASELINE_TTFT_P99
            )
            for n in range(144)
            for r in replicas
        ]
        current_start = now - timedelta(minutes=58)
        rows += [
            window_stats(
                "demo", NAME, r, current_start + n * timedelta(minutes=10), ttft_p99=current_ttft_p99
            )
            for n in range(6)
            for r in replicas
        ]
        await self.metrics.write_window_stats(rows)

    async def watch(self) -> tuple[RegressionWatchSummary, WorkflowHandle[Any, RegressionWatchSummary]]:
        request = RegressionWatchRequest(
            current_seconds=3600,
            baseline_seconds=24 * 3600,
            timing=timing_from(harness_settings(self.task_queue, activity_timeout_seconds=60)),
        )
        handle = await self.client.start_workflow(
            RegressionWatchWorkflow.run,
            request,
            id=f"regression/watch/test-{uuid4()}",
            task_queue=self.task_queue,
        )
        return await handle.result(), handle


@asynccontextmanager
async def watch_stack(
    client: Client, sessions: Sessions, tmp_path: Path, layer: InferenceLayer
) -> AsyncIterator[WatchStack]:
    cluster = KubeCluster()
    cluster.create_deployment(vllm_deployment_manifest(NAMESPACE, NAME, MODEL, "g6e.xlarge", 1, REPLICAS))
    server = start_kube_server(cluster)
    async with sessions.begin() as session:
        await repository.upsert_workload(
            session=session,
            workload=Workload(
                customer_id="demo",
                workload_id=NAME,
                name="Watched",
                model_name=MODEL,
                region="us-east-1",
                slo_ttft_p95_s=3.0,
                slo_itl_p95_s=0.08,
                kube_namespace=NAMESPACE,
                kube_deployment=NAME,
            ),
        )
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    deployments = Deployments.for_url(server.url)
    task_queue = f"tests-{uuid4()}"
    try:
        async with httpx.AsyncClient() as http:
            records = StoreActivities(sessions)
            kube = KubeActivities(deployments, InFlightProbe(http, lambda pod: None))
            regression = RegressionActivities(metrics, sessions, layer)
            worker = workers_by_kind(  # each activity on its kind's queue, as the workflows send it
                client,
                task_queue=task_queue,
                workflows=[RegressionWatchWorkflow, RollbackWorkflow],
                activities=[
                    records.list_workloads,
                    records.record_step_result,
                    records.change_recommendation_status,
                    kube.compensate_kube_step,
                    regression.measure_serving_health,
                    regression.check_regression,
                    regression.explain_regression,
                    regression.load_rollback_plan,
                    regression.find_recent_change,
                    regression.record_rollback,
                ],
            )
            async with worker:
                yield WatchStack(client, sessions, cluster, deployments, metrics, task_queue)
    finally:
        await deployments.close()
        server.stop()
        store.close()
        await layer.aclose()


async def scheduled_activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    history = await handle.fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def started_children(handle: WorkflowHandle[Any, Any]) -> list[str]:
    history = await handle.fetch_history()
    return [
        event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]


async def workload_count(sessions: Sessions) -> int:
    async with sessions() as session:
        return len(await repository.list_workloads(session=session))


async def test_a_regression_after_our_change_is_explained_and_the_change_rolled_back(
    temporal_client: Client, harness_store: tuple[str, Sessions], tmp_path: Path
) -> None:
    _, sessions = harness_store
    async with watch_stack(temporal_client, sessions, tmp_path, InferenceLayer()) as stack:
        now = datetime.now(UTC)
        change = await stack.execute_scale_down(finished_at=now - timedelta(minutes=40))
        await stack.write_windows(now, current_ttft_p99=BASELINE_TTFT_P99 * 1.5)

        summary, handle = await stack.watch()

        assert summary.failures == []
        assert summary.workloads == await workload_count(sessions)
        [regression] = summary.regressions
        assert (regression.customer_id, regression.workload_id) == ("demo", NAME)
        assert regression.verdict.regressed
        assert [f.metric for f in regression.verdict.findings] == [RegressionMetric.TTFT_P99]
        assert regression.verdict.findings[0].current == BASELINE_TTFT_P99 * 1.5
        note = regression.root_cause
        assert note is not None
        assert note.written_by == "rules"
        assert note.caused_by_recommendation_id == change.recommendation_id
        assert "TTFT p99 rose from 900 ms to 1.35 s (+50%)" in note.summary
        rollback_id = rollback_workflow_id(change.recommendation_id)
        assert regression.rolled_back_by == rollback_id

        # The Deployment is back at the replica count it had before our change.
        assert stack.replicas == REPLICAS

        # The recommendation ended rolled back, with the compensation recorded under the rollback.
        async with sessions() as session:
            stored = await repository.get_recommendation_record(
                session=session, recommendation_id=change.recommendation_id
            )
            results = await repository.list_step_results(
                session=session, recommendation_id=change.recommendation_id
            )
            usage = await repository.list_llm_usage(session=session, workflow_id=handle.id)
            audit = await repository.list_audit(session=session, subject=change.recommendation_id)
        assert stored is not None
        assert stored.recommendation.status is RecommendationStatus.ROLLED_BACK
        assert stored.status_reason is not None and "TTFT p99 rose" in stored.status_reason
        assert [(r.step_id, r.action, r.status) for r in results] == [
            ("scale", StepAction.SCALE_DEPLOYMENT, StepStatus.SUCCEEDED),
            ("compensate-scale", StepAction.SCALE_DEPLOYMENT, StepStatus.COMPENSATED),
        ]
        assert [(u.task, u.tier.value) for u in usage] == [("explain_regression", "rules")]
        assert [a.action for a in audit][-1] == "recommendation.rolled_back"
        assert audit[-1].actor == f"workflow:{rollback_id}"

        # Both histories tell it: the watch started the child, the child scheduled the compensation.
        assert await started_children(handle) == [rollback_id]
        watched = await scheduled_activities(handle)
        assert watched.count("explain_regression") == 1 and watched.count("find_recent_change") == 1
        rollback = temporal_client.get_workflow_handle_for(RollbackWorkflow.run, rollback_id)
        assert await scheduled_activities(rollback) == [
            "load_rollback_plan",
            "compensate_kube_step",
            "record_step_result",
            "record_rollback",
        ]
        rolled_back: OptimizationStatus = await rollback.result()
        assert rolled_back.phase is WorkflowPhase.ROLLED_BACK
        assert [(r.step_id, r.status) for r in rolled_back.step_results] == [
            ("compensate-scale", StepStatus.COMPENSATED)
        ]

        # A later pass does not roll the same change back again: it is no longer executed.
        again, again_handle = await stack.watch()
        assert [r.rolled_back_by for r in again.regressions] == [None]
        assert await started_children(again_handle) == []


async def test_serving_as_before_rolls_nothing_back_and_asks_no_model(
    temporal_client: Client, harness_store: tuple[str, Sessions], tmp_path: Path, openai_stub: OpenAIStub
) -> None:
    _, sessions = harness_store
    async with watch_stack(temporal_client, sessions, tmp_path, frontier_layer(openai_stub)) as stack:
        now = datetime.now(UTC)
        change = await stack.execute_scale_down(finished_at=now - timedelta(minutes=40))
        await stack.write_windows(now, current_ttft_p99=BASELINE_TTFT_P99 * 1.05)

        summary, handle = await stack.watch()

        assert summary.failures == []
        assert summary.regressions == []
        assert summary.workloads == await workload_count(sessions)
        assert stack.replicas == SCALED_TO
        assert openai_stub.requests == []
        scheduled = await scheduled_activities(handle)
        assert "check_regression" in scheduled
        assert "explain_regression" not in scheduled and "find_recent_change" not in scheduled
        assert await started_children(handle) == []
        async with sessions() as session:
            stored = await repository.get_recommendation(
                session=session, recommendation_id=change.recommendation_id
            )
            usage = await repository.list_llm_usage(session=session)
        assert stored is not None and stored.status is RecommendationStatus.EXECUTED
        assert usage == []


async def test_a_change_whose_finalize_step_ran_is_not_rolled_back(
    temporal_client: Client, harness_store: tuple[str, Sessions], tmp_path: Path
) -> None:
    _, sessions = harness_store
    async with watch_stack(temporal_client, sessions, tmp_path, InferenceLayer()) as stack:
        change = await stack.execute_scale_down(
            finished_at=datetime.now(UTC) - timedelta(minutes=40), finalized=True
        )
        rollback_id = rollback_workflow_id(change.recommendation_id)
        status: OptimizationStatus = await temporal_client.execute_workflow(
            RollbackWorkflow.run,
            RollbackRequest(
                recommendation_id=change.recommendation_id,
                reason="asked by sre@demo",
                timing=timing_from(harness_settings(stack.task_queue)),
            ),
            id=rollback_id,
            task_queue=stack.task_queue,
        )

        assert status.phase is WorkflowPhase.EXECUTED
        assert status.failure_reason == (
            "rollback refused: finalize steps already ran, so it cannot be undone: "
            "finalize (Confirm the replica count)"
        )
        assert status.step_results == []
        assert stack.replicas == SCALED_TO
        rollback = temporal_client.get_workflow_handle(rollback_id)
        assert await scheduled_activities(rollback) == ["load_rollback_plan", "record_rollback"]
        async with sessions() as session:
            stored = await repository.get_recommendation(
                session=session, recommendation_id=change.recommendation_id
            )
            audit = await repository.list_audit(session=session, subject=change.recommendation_id)
        assert stored is not None and stored.status is RecommendationStatus.EXECUTED
        assert [(a.action, a.actor) for a in audit] == [
            ("recommendation.rollback_refused", f"workflow:{rollback_id}")
        ]

        # The change still looks like the cause of a regression, but its one rollback already ran.
        await stack.write_windows(datetime.now(UTC), current_ttft_p99=BASELINE_TTFT_P99 * 2)
        summary, handle = await stack.watch()
        [regression] = summary.regressions
        assert regression.root_cause is not None
        assert regression.root_cause.caused_by_recommendation_id == change.recommendation_id
        assert regression.rolled_back_by is None
        assert summary.failures == [
            f"demo/{NAME}: {rollback_id} already ran for this change; not started again"
        ]
        assert stack.replicas == SCALED_TO
        assert await started_children(handle) == []


def test_the_schedule_carries_the_settings_thresholds_and_skips_overlapping_passes() -> None:
    settings = harness_settings(
        "q",
        regression_watch_interval_seconds=900,
        regression_p99_increase=0.3,
        regression_error_rate_points=2.0,
        regression_min_requests=10.0,
        regression_attribution_seconds=7200,
    )
    schedule = regression_watch_schedule(settings)

    assert schedule.spec.intervals[0].every == timedelta(seconds=900)
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("RegressionWatchWorkflow", "q")
    [request] = action.args
    assert isinstance(request, RegressionWatchRequest)
    assert request.thresholds == RegressionThresholds(
        max_p99_increase=0.3, max_error_rate_increase_points=2.0, min_requests=10.0
    )
    assert request.attribution_seconds == 7200
    assert request.timing == timing_from(settings)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_schedule_runs_watch_passes_over_every_workload(
    temporal_client: Client, harness_store: tuple[str, Sessions], tmp_path: Path
) -> None:
    _, sessions = harness_store
    async with watch_stack(temporal_client, sessions, tmp_path, InferenceLayer()) as stack:
        settings = harness_settings(stack.task_queue, regression_watch_interval_seconds=2)
        await ensure_regression_watch_schedule(temporal_client, settings)
        await ensure_regression_watch_schedule(temporal_client, settings)  # idempotent: updates it
        handle = temporal_client.get_schedule_handle(REGRESSION_WATCH_SCHEDULE_ID)
        try:
            deadline = time.monotonic() + 30
            while True:
                described = await read_retrying(handle.describe)
                started = [
                    a.action
                    for a in described.info.recent_actions
                    if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
                ]
                if started:
                    break
                assert time.monotonic() < deadline, "the schedule started no pass in 30 s"
                await asyncio.sleep(0.5)
            assert described.schedule.spec.intervals[0].every.total_seconds() == 2
            run = temporal_client.get_workflow_handle(
                started[0].workflow_id,
                run_id=started[0].first_execution_run_id,
                result_type=RegressionWatchSummary,
            )
            summary = await run.result()
            assert summary.workloads == await workload_count(sessions)
            assert summary.regressions == [] and summary.failures == []
        finally:
            await handle.delete()
