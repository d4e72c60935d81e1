"""Fleet-scan schedules on the real dev server: a schedule created through the API starts FleetScanWorkflow
at its cron times, each scan starts one joint optimization per workload under an id naming its tick, a
duplicate scan of a tick starts nothing twice, pausing stops the scans and deleting removes the schedule.

The joint optimization itself is a stand-in registered under its type name (`joint_stand_in.py`): these
tests are about what the scans start, not what the agents find."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.store import StoreActivities
from optiinfra.control.schedule_spec import ScanScheduleView
from optiinfra.control.schedules import temporal_schedule_id
from optiinfra.domain.fleet import Customer, Workload
from optiinfra.settings import Settings
from optiinfra.store import repository
from tests.support.asgi import api_client
from tests.workflows.conftest import CUSTOMER, harness_settings
from tests.workflows.joint_stand_in import JointStandIn
from workflows.contracts import ALL_AGENTS, FleetScanRequest, FleetScanSummary, JointStatus
from workflows.fleet_scan import FleetScanWorkflow, joint_workflow_id, scan_time_label
from workflows.search_attributes import OPTI_AGENT, OPTI_CUSTOMER, OPTI_WORKLOAD, SCHEDULED_START_TIME

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "scan-test-token-0123456789"
OWNER = {"customer_id": CUSTOMER}  # a customer's schedule lives under the customer
EVERY_2_SECONDS = "*/2 * * * * * *"  # 7 fields: seconds first
OTHER = "other"
OTHER_WORKLOADS = ["chat", "embed", "summarize"]


@dataclass
class ScanStack:
    client: Client
    api: httpx.AsyncClient
    settings: Settings
    demo_workloads: list[str]


@pytest.fixture
async def scan_stack(
    temporal_client: Client, harness_store: tuple[str, async_sessionmaker[AsyncSession]]
) -> AsyncIterator[ScanStack]:
    """The API and a worker running the scan and the stand-in, over the demo store plus a second
    customer whose workload a demo-only scan must leave alone."""
    _, sessions = harness_store
    async with sessions.begin() as session:
        await repository.upsert_customer(session=session, customer=Customer(customer_id=OTHER, name="Other"))
        for workload_id in OTHER_WORKLOADS:
            await repository.upsert_workload(
                session=session,
                workload=Workload(
                    customer_id=OTHER,
                    workload_id=workload_id,
                    name=workload_id,
                    model_name="m",
                    region="us-east-1",
                ),
            )
        demo = sorted(
            w.workload_id for w in await repository.list_workloads(session=session, customer_id=CUSTOMER)
        )
    settings = harness_settings(f"tests-scan-{uuid4()}")
    worker = Worker(
        temporal_client,
        task_queue=settings.temporal_task_queue,
        workflows=[FleetScanWorkflow, JointStandIn],
        activities=[StoreActivities(sessions).list_workloads, StoreActivities(sessions).list_scan_page],
    )
    async with worker, api_client(settings, token=TOKEN, client=temporal_client, sessions=sessions) as api:
        yield ScanStack(client=temporal_client, api=api, settings=settings, demo_workloads=demo)


async def wait_for(what: str, probe: Any, timeout_s: float = 20) -> Any:
    """Poll the async `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while not (found := await probe()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s} s"
        await asyncio.sleep(0.25)
    return found


async def view(stack: ScanStack, schedule_id: str) -> ScanScheduleView:
    response = await stack.api.get(f"/v1/schedules/{schedule_id}", params=OWNER)
    assert response.status_code == 200, response.text
    return ScanScheduleView.model_validate(response.json())


async def scan_result(client: Client, workflow_id: str, run_id: str | None = None) -> FleetScanSummary:
    handle = client.get_workflow_handle_for(FleetScanWorkflow.run, workflow_id, run_id=run_id)
    return await handle.result()


async def test_a_schedule_created_through_the_api_starts_scans_at_its_cron_times(
    scan_stack: ScanStack,
) -> None:
    client, api = scan_stack.client, scan_stack.api
    schedule_id = f"scan-{uuid4().hex[:8]}"
    created = await api.post(
        "/v1/schedules",
        json={
            "schedule_id": schedule_id,
            "cron": [EVERY_2_SECONDS],
            "customer_id": CUSTOMER,
            "agents": ["cost", "performance"],
            "note": "every two seconds, for the test",
        },
    )
    assert created.status_code == 201, created.text
    planned = ScanScheduleView.model_validate(created.json())
    assert (planned.cron, planned.timezone, planned.paused) == ([EVERY_2_SECONDS], "UTC", False)
    try:
        # The schedule, not the test, starts the scans: two of them, at the first two cron times it planned.
        async def two_scans() -> ScanScheduleView | None:
            current = await view(scan_stack, schedule_id)
            return current if len(current.recent_runs) >= 2 else None

        runs = (await wait_for("two scheduled scans", two_scans)).recent_runs[:2]
        assert runs[0].scheduled_at in planned.next_action_times[:2]
        # Cron times 2 s apart; a tick that finds the last scan still running is skipped (overlap policy).
        apart = (runs[1].scheduled_at - runs[0].scheduled_at).total_seconds()
        assert apart > 0 and apart % 2 == 0, apart
        assert all(run.scheduled_at.second % 2 == 0 and run.scheduled_at.microsecond == 0 for run in runs)
        expected_runs: dict[str, str] = {}  # joint workflow id -> its run id
        for run in runs:
            assert run.workflow_id == f"scan/{CUSTOMER}/{schedule_id}-{run.scheduled_at:%Y-%m-%dT%H:%M:%SZ}"
            scan = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
            assert (await scan.describe()).typed_search_attributes.get(
                SCHEDULED_START_TIME
            ) == run.scheduled_at
            summary = await scan_result(client, run.workflow_id, run.run_id)
            # Every demo workload, none of the other customer's, each under an id naming this tick.
            expected = [joint_workflow_id(CUSTOMER, w, run.scheduled_at) for w in scan_stack.demo_workloads]
            assert sorted(summary.started) == expected
            assert (summary.already_running, summary.failures) == ([], [])
            assert expected[0].endswith(f"/scan/{scan_time_label(run.scheduled_at)}")
            for workflow_id in summary.started:
                joint = client.get_workflow_handle(workflow_id, result_type=JointStatus)
                described = await joint.describe()
                assert described.workflow_type == "JointOptimizationWorkflow"
                assert described.typed_search_attributes.get(OPTI_CUSTOMER) == CUSTOMER
                workload_id = workflow_id.split("/")[2]
                assert described.typed_search_attributes.get(OPTI_WORKLOAD) == workload_id
                assert described.typed_search_attributes.get(OPTI_AGENT) == "joint"
                status = await joint.result()
                assert (status.customer_id, status.workload_id) == (CUSTOMER, workload_id)
                assert status.notes == ["cost", "performance", "approval_timeout_seconds=120"]
                expected_runs[workflow_id] = described.run_id or ""

        # A duplicate scan of the first tick (a backfill of it) finds the joint runs of that tick, closed as
        # they are, and starts none again.
        first = runs[0]
        await client.get_schedule_handle(temporal_schedule_id(schedule_id, CUSTOMER)).backfill(
            ScheduleBackfill(
                start_at=first.scheduled_at - timedelta(seconds=1),
                end_at=first.scheduled_at + timedelta(seconds=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )

        async def rerun() -> str | None:
            current = await view(scan_stack, schedule_id)
            again = [
                r
                for r in current.recent_runs
                if r.workflow_id == first.workflow_id and r.run_id != first.run_id
            ]
            return again[0].run_id if again else None

        duplicate = await scan_result(client, first.workflow_id, await wait_for("the backfilled scan", rerun))
        assert duplicate.started == []
        assert sorted(duplicate.already_running) == [
            joint_workflow_id(CUSTOMER, w, first.scheduled_at) for w in scan_stack.demo_workloads
        ]
        for workflow_id, run_id in expected_runs.items():
            assert (await client.get_workflow_handle(workflow_id).describe()).run_id == run_id

        # Paused: no more scans, though the cron times keep coming.
        paused = await api.post(
            f"/v1/schedules/{schedule_id}/pause", json={"note": "maintenance"}, params=OWNER
        )
        assert paused.status_code == 200, paused.text
        assert (paused.json()["paused"], paused.json()["pause_note"]) == (True, "maintenance")
        handle = client.get_schedule_handle(temporal_schedule_id(schedule_id, CUSTOMER))
        await asyncio.sleep(1)  # an action the scheduler took just before the pause settles
        actions = (await handle.describe()).info.num_actions
        await asyncio.sleep(4.5)
        assert (await handle.describe()).info.num_actions == actions
        unpaused = await api.post(f"/v1/schedules/{schedule_id}/unpause", params=OWNER)
        assert unpaused.status_code == 200
        assert unpaused.json()["paused"] is False

        assert (await api.delete(f"/v1/schedules/{schedule_id}", params=OWNER)).status_code == 204
        assert (await api.get(f"/v1/schedules/{schedule_id}", params=OWNER)).status_code == 404
        with pytest.raises(RPCError) as gone:
            await handle.describe()
        assert gone.value.status is RPCStatusCode.NOT_FOUND
    finally:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(temporal_schedule_id(schedule_id, CUSTOMER)).delete()


async def test_a_scan_started_by_hand_skips_the_workloads_already_started_for_its_minute(
    scan_stack: ScanStack,
) -> None:
    """Without a schedule the scan's tick is its start minute. A joint run already under that minute's id
    (one left running for other/chat) is reported, and does not stop the scan starting the others."""
    client = scan_stack.client
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now, now + timedelta(minutes=1)]  # the scan may start just after a minute turns
    held = [joint_workflow_id(OTHER, "chat", minute) for minute in minutes]
    for workflow_id in held:
        await client.start_workflow(
            "JointOptimizationWorkflow",
            id=workflow_id,
            task_queue=f"{scan_stack.settings.temporal_task_queue}-unpolled",  # it stays running
        )
    scan_id = f"scan/by-hand-{uuid4().hex[:8]}"
    try:
        summary = await client.execute_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(customer_id=OTHER),
            id=scan_id,
            task_queue=scan_stack.settings.temporal_task_queue,
        )
        assert len(summary.already_running) == 1
        assert summary.already_running[0] in held
        label = summary.already_running[0].rsplit("/", 1)[1]
        assert len(label) == len("20261122T1000Z")  # minute resolution
        assert sorted(summary.started) == [f"joint/{OTHER}/{w}/scan/{label}" for w in ("embed", "summarize")]
        assert summary.failures == []
        for workflow_id in summary.started:
            status = await client.get_workflow_handle(workflow_id, result_type=JointStatus).result()
            assert status.notes[:-1] == [agent.value for agent in ALL_AGENTS]

        # A customer with no workloads: an empty scan, not a failure.
        empty = await client.execute_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(customer_id="nobody"),
            id=f"{scan_id}-nobody",
            task_queue=scan_stack.settings.temporal_task_queue,
        )
        assert empty == FleetScanSummary()
    finally:
        for workflow_id in held:
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(workflow_id).terminate("test over")
