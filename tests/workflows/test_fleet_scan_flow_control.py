"""A fleet scan keeps at most `max_in_flight` of the joint runs it started proposing at once: each run tells
the scan when its proposing is over, and the next batch starts only when there is room for it. A run that
never tells does not hold the scan up beyond `in_flight_timeout_seconds`.

The joint runs are stand-ins the test releases one by one (`reporting_joint_stand_in.py`)."""

import asyncio
import time
from collections.abc import Callable
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.store import StoreActivities
from tests.workflows.reporting_joint_stand_in import ReportingJointStandIn
from tests.workflows.synthetic_fleet import add_customer_with_workloads
from workflows.contracts import FleetScanProgress, FleetScanRequest, FleetScanSummary
from workflows.fleet_scan import FleetScanWorkflow

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WORKLOADS = 6
BATCH = 2
MAX_IN_FLIGHT = 3  # room for a batch of 2 once at most 1 is still proposing


async def _progress_when(
    scan: WorkflowHandle[FleetScanWorkflow, FleetScanSummary],
    reached: Callable[[FleetScanProgress], bool],
    timeout_s: float = 30,
) -> FleetScanProgress:
    deadline = time.monotonic() + timeout_s
    while True:
        progress = await scan.query(FleetScanWorkflow.progress)
        if progress is not None and reached(progress):
            return progress
        assert time.monotonic() < deadline, f"the scan did not get there: {progress}"
        await asyncio.sleep(0.1)


async def _stays(
    scan: WorkflowHandle[FleetScanWorkflow, FleetScanSummary], scanned: int
) -> FleetScanProgress:
    """The scan's progress, checked again a second later: it waits, having listed `scanned` workloads."""
    await _progress_when(scan, lambda p: p.summary.scanned == scanned)
    await asyncio.sleep(1.0)
    progress = await _progress_when(scan, lambda p: True)
    assert progress.summary.scanned == scanned
    return progress


async def _customer_with(sessions: async_sessionmaker[AsyncSession], workloads: int) -> str:
    customer = f"flow-{uuid4().hex[:8]}"
    async with sessions.begin() as session:
        await add_customer_with_workloads(session, customer, workloads)
    return customer


def _scan_worker(client: Client, sessions: async_sessionmaker[AsyncSession], queue: str) -> Worker:
    """The scan, the reporting stand-in for its runs, and the page listing the scan reads."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[FleetScanWorkflow, ReportingJointStandIn],
        activities=[StoreActivities(sessions).list_scan_page],
    )


async def test_a_scan_starts_the_next_batch_only_when_runs_have_told_it_they_are_done(
    temporal_client: Client, harness_store: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    _, sessions = harness_store
    customer = await _customer_with(sessions, WORKLOADS)
    queue = f"tests-scan-flow-{uuid4()}"
    async with _scan_worker(temporal_client, sessions, queue):
        scan = await temporal_client.start_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(customer_id=customer, batch_size=BATCH, max_in_flight=MAX_IN_FLIGHT),
            id=f"scan/flow-{uuid4().hex[:8]}",
            task_queue=queue,
        )

        first = await _stays(scan, scanned=2)  # 2 proposing: no room for 2 more under 3
        assert sorted(first.in_flight) == sorted(first.summary.started)
        await temporal_client.get_workflow_handle(first.in_flight[0]).signal(ReportingJointStandIn.release)

        second = await _stays(scan, scanned=4)  # 1 + 2 proposing: the most it lets be
        assert len(second.in_flight) == MAX_IN_FLIGHT
        for workflow_id in list(second.in_flight):
            await temporal_client.get_workflow_handle(workflow_id).signal(ReportingJointStandIn.release)

        summary = await scan.result()
        last = await _progress_when(scan, lambda p: p.done)
        for workflow_id in last.in_flight:
            await temporal_client.get_workflow_handle(workflow_id).signal(ReportingJointStandIn.release)
        for workflow_id in summary.started:
            await temporal_client.get_workflow_handle(workflow_id).result()

    assert (summary.scanned, summary.started_count, summary.unreported_count) == (WORKLOADS, WORKLOADS, 0)
    assert len(last.in_flight) <= BATCH


async def test_runs_that_never_tell_hold_the_scan_up_no_longer_than_its_timeout(
    temporal_client: Client, harness_store: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    _, sessions = harness_store
    customer = await _customer_with(sessions, 4)
    queue = f"tests-scan-flow-{uuid4()}"
    async with _scan_worker(temporal_client, sessions, queue):
        summary = await temporal_client.execute_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(
                customer_id=customer, batch_size=BATCH, max_in_flight=BATCH, in_flight_timeout_seconds=1
            ),
            id=f"scan/flow-{uuid4().hex[:8]}",
            task_queue=queue,
        )
        for workflow_id in summary.started:  # let the stand-ins end; the scan has stopped listening
            await temporal_client.get_workflow_handle(workflow_id).signal(ReportingJointStandIn.release)

    # The first batch of 2 never told: the scan waited a second for room, then went on with the second.
    assert (summary.scanned, summary.started_count, summary.unreported_count) == (4, 4, 2)
