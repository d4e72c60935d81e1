"""A fleet scan of many workloads on the real dev server: it lists and starts them a page at a time,
continues as new after a few pages (each run's history bounded), answers its progress as a query and in
the OptiScanProgress search attribute, skips the workloads with a change of ours in flight (a held lock, a
recommendation waiting for a decision), and starts every other workload exactly once.

The joint optimization is the stand-in registered under its type name (`joint_stand_in.py`)."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.store import StoreActivities
from optiinfra.store import repository
from optiinfra.store.locks import acquire_workload_lock
from tests.optiinfra.store import factories
from tests.workflows.joint_stand_in import JointStandIn
from tests.workflows.synthetic_fleet import add_customer_with_workloads, workload_ids
from workflows.contracts import FleetScanProgress, FleetScanRequest
from workflows.fleet_scan import FleetScanWorkflow
from workflows.search_attributes import OPTI_SCAN_PROGRESS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WORKLOADS = 25
BATCH = 4
BATCHES_PER_RUN = 2


async def _seed(sessions: async_sessionmaker[AsyncSession], customer: str) -> None:
    async with sessions.begin() as session:
        await add_customer_with_workloads(session, customer, WORKLOADS)
        waiting = factories.recommendation("scan-waiting", customer_id=customer).model_copy(
            update={"workload_id": "w03"}
        )
        await repository.save_recommendation(session=session, recommendation=waiting)
        await acquire_workload_lock(
            session=session,
            customer_id=customer,
            workload_id="w17",
            holder="opt/changing-w17",
            lease=timedelta(hours=1),
            now=datetime.now(UTC),
        )


async def test_a_scan_in_batches_starts_each_idle_workload_once_and_continues_as_new(
    temporal_client: Client, harness_store: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    _, sessions = harness_store
    customer = f"fleet-{uuid4().hex[:8]}"
    await _seed(sessions, customer)
    queue = f"tests-scan-batches-{uuid4()}"
    store = StoreActivities(sessions)
    scan_id = f"scan/batches-{uuid4().hex[:8]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[FleetScanWorkflow, JointStandIn],
        activities=[store.list_scan_page],
    ):
        summary = await temporal_client.execute_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(customer_id=customer, batch_size=BATCH, batches_per_run=BATCHES_PER_RUN),
            id=scan_id,
            task_queue=queue,
        )
        last = temporal_client.get_workflow_handle_for(FleetScanWorkflow.run, scan_id)
        progress = await last.query(FleetScanWorkflow.progress)
        described = await last.describe()

    assert summary.scanned == WORKLOADS
    assert (summary.started_count, summary.skipped_in_flight_count) == (WORKLOADS - 2, 2)
    assert (summary.already_running_count, summary.failure_count) == (0, 0)
    assert sorted(summary.skipped_in_flight) == [
        f"{customer}/w03: recommendation scan-waiting is pending_approval",
        f"{customer}/w17: opt/changing-w17 is changing it",
    ]
    started = Counter(workflow_id.split("/")[2] for workflow_id in summary.started)
    assert set(started) == set(workload_ids(WORKLOADS)) - {"w03", "w17"}
    assert set(started.values()) == {1}

    pages = -(-WORKLOADS // BATCH)  # 7 pages of at most 4
    assert isinstance(progress, FleetScanProgress)
    assert progress.done and progress.runs == -(-pages // BATCHES_PER_RUN)  # 4 runs of at most 2 pages
    assert progress.summary == summary
    assert described.typed_search_attributes.get(OPTI_SCAN_PROGRESS) == WORKLOADS

    # Every run of the chain kept a bounded history: at most 2 pages, each a listing and 4 child starts.
    run_ids = [run.run_id async for run in temporal_client.list_workflows(f'WorkflowId = "{scan_id}"')]
    assert len(run_ids) == progress.runs
    for run_id in run_ids:
        history = await temporal_client.get_workflow_handle(scan_id, run_id=run_id).fetch_history()
        starts = [
            e
            for e in history.events
            if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        ]
        assert 0 < len(starts) <= BATCH * BATCHES_PER_RUN
        assert len(history.events) < 80
    for workflow_id in summary.started:
        await temporal_client.get_workflow_handle(workflow_id).result()
