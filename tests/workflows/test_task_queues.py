"""Task queues by kind of work: every activity has a kind; the all-in-one worker polls each kind's queue
with only that kind's activities (the orchestration one with every workflow); and a run whose workers are
split by kind, as production deploys them, waits at its first cloud activity while no cloud worker polls,
then finishes once one does."""

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from optiinfra.control.optimizations import start_optimization
from optiinfra.domain.enums import AgentKind
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from tests.support.cloud import SeededCloud
from tests.support.polling import read_retrying
from tests.workflows.conftest import (
    CUSTOMER,
    DemoCollector,
    backfill_utilization,
    harness_settings,
    wait_for_phase,
)
from workers.all_in_one import WORKFLOWS, WorkerSlots, build_worker, worker_kinds
from workers.group import WorkerGroup, activity_name
from workflows import rollback
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import ActivityName, WorkflowPhase
from workflows.task_queues import ACTIVITY_KINDS, RECORD_ROLLBACK, WorkKind, task_queue

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_every_activity_name_has_a_kind() -> None:
    names = {value for key, value in vars(ActivityName).items() if key.isupper()}
    assert names | {RECORD_ROLLBACK} == set(ACTIVITY_KINDS)
    assert rollback.RECORD_ROLLBACK == RECORD_ROLLBACK


def test_the_worker_kinds_setting() -> None:
    assert worker_kinds("all") == list(WorkKind)
    assert worker_kinds(" cloud, analysis ,cloud") == [WorkKind.CLOUD, WorkKind.ANALYSIS]
    with pytest.raises(ValueError, match="unknown worker kind gpu: choose from all, orchestration"):
        worker_kinds("cloud,gpu")


@asynccontextmanager
async def _workers(
    client: Client,
    cloud: SeededCloud,
    sessions: async_sessionmaker[AsyncSession],
    metrics: AsyncMetricsStore,
    queue: str,
    kinds: Collection[WorkKind],
) -> AsyncIterator[WorkerGroup]:
    async with httpx.AsyncClient() as http:
        group = build_worker(
            client,
            task_queue=queue,
            sessions=sessions,
            fleet=cloud.fleet,
            scaling_groups=cloud.groups,
            collector=DemoCollector(metrics, cloud.fleet, http),
            metrics=metrics,
            kinds=kinds,
            slots=WorkerSlots(analysis=1),
        )
        async with group:
            yield group


@SQLITE
async def test_the_all_in_one_worker_polls_every_kinds_queue_with_only_its_activities(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> None:
    _, sessions = harness_store
    store = ChdbMetricsStore(tmp_path / "metrics")
    try:
        async with _workers(
            temporal_client, seeded_cloud, sessions, AsyncMetricsStore(store), "tq-all", list(WorkKind)
        ) as group:
            assert group.task_queues == [task_queue("tq-all", kind) for kind in WorkKind]
            assert group.task_queues == [
                "tq-all",
                "tq-all-cloud",
                "tq-all-analysis",
                "tq-all-llm",
                "tq-all-metrics",
            ]
            seen: list[str] = []
            for worker, kind in zip(group.workers, WorkKind, strict=True):
                config = worker.config()
                names = [activity_name(fn) for fn in config.get("activities", [])]
                assert names and all(ACTIVITY_KINDS[name] is kind for name in names), (kind, names)
                assert list(config.get("workflows", [])) == (
                    list(WORKFLOWS) if kind is WorkKind.ORCHESTRATION else []
                )
                seen += names
            assert len(seen) == len(set(seen))  # each activity on exactly one queue
            kube = {
                ActivityName.EXECUTE_KUBE_STEP,
                ActivityName.COMPENSATE_KUBE_STEP,
                ActivityName.VERIFY_KUBE,
            }
            assert (
                set(seen) == set(ACTIVITY_KINDS) - kube
            )  # every activity a workflow calls (no cluster here)
            analysis = group.workers[list(WorkKind).index(WorkKind.ANALYSIS)]
            assert analysis.config().get("max_concurrent_activities") == 1
    finally:
        store.close()


@SQLITE
async def test_a_run_on_split_workers_waits_for_the_cloud_worker_then_finishes(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> None:
    _, sessions = harness_store
    queue = f"tq-{uuid4().hex[:12]}"
    await backfill_utilization(seeded_cloud, tmp_path / "metrics")
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    settings = harness_settings(queue)
    try:
        async with _workers(
            temporal_client, seeded_cloud, sessions, metrics, queue, [WorkKind.ORCHESTRATION]
        ):
            workflow_id = await start_optimization(
                client=temporal_client,
                sessions=sessions,
                settings=settings,
                customer_id=CUSTOMER,
                workload_id="code-assist",
                agent=AgentKind.COST,
            )
            handle = temporal_client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
            pending = await _pending_activity(temporal_client, workflow_id)
            assert pending == (
                ActivityName.COLLECT_STORED_SNAPSHOT,
                PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
            )
            await asyncio.sleep(2)  # no cloud worker: it stays scheduled, the run waits
            assert await _pending_activity(temporal_client, workflow_id) == pending
            others = [kind for kind in WorkKind if kind is not WorkKind.ORCHESTRATION]
            async with _workers(temporal_client, seeded_cloud, sessions, metrics, queue, others):
                waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
            assert waiting.recommendation is not None
            history = await handle.fetch_history()
            queues = {
                event.activity_task_scheduled_event_attributes.activity_type.name: (
                    event.activity_task_scheduled_event_attributes.task_queue.name
                )
                for event in history.events
                if event.HasField("activity_task_scheduled_event_attributes")
            }
            assert queues[ActivityName.LOAD_WORKLOAD] == queue
            assert queues[ActivityName.COLLECT_STORED_SNAPSHOT] == f"{queue}-cloud"
            assert queues[ActivityName.ANALYZE_STORED] == f"{queue}-analysis"
            await handle.terminate("test over")
    finally:
        store.close()


async def _pending_activity(client: Client, workflow_id: str, timeout_s: float = 30) -> tuple[str, int]:
    """The run's one pending activity: (its type, its state), once it has one."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await read_retrying(client.get_workflow_handle(workflow_id).describe)
        pending = described.raw_description.pending_activities
        if pending:
            return pending[0].activity_type.name, pending[0].state
        assert time.monotonic() < deadline, f"{workflow_id} scheduled no activity within {timeout_s:.0f} s"
        await asyncio.sleep(0.2)
