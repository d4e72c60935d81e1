"""Two worker processes (`python -m workers.all_in_one`, as `optiinfra worker` runs in production) share a
fleet scan of 30 workloads; one is killed (SIGKILL) once the scan is under way. The other finishes the scan
and the runs it started: every workload gets exactly one joint optimization and one Cost-agent run, and
every one of those ends, none twice.

On PostgreSQL, the store two processes share in production."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from optiinfra.domain.enums import AgentKind
from optiinfra.engine.devserver import DevServer
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import harness_settings
from tests.workflows.synthetic_fleet import add_customer_with_workloads, workload_ids
from workflows.contracts import ExecutionTiming, FleetScanRequest, JointStatus
from workflows.fleet_scan import FleetScanWorkflow

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = 30
TIMEOUT_S = 240


def _start_worker(env: dict[str, str], state_dir: Path) -> subprocess.Popen[bytes]:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "workers.all_in_one"],
        cwd=REPO_ROOT,
        env={**env, "OPTIINFRA_STATE_DIR": str(state_dir)},  # each its own embedded metrics store
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _seed(sessions: async_sessionmaker[AsyncSession], customer: str) -> None:
    async with sessions.begin() as session:
        await add_customer_with_workloads(session, customer, WORKLOADS)


async def _runs_once_closed(client: Client, customer: str) -> tuple[Counter[str], Counter[str]]:
    """Joint and agent runs of the customer per workload, once the visibility store lists them all closed
    (it lags the runs themselves a little); every one must have completed."""
    deadline = time.monotonic() + 30
    while True:
        runs = [run async for run in client.list_workflows(f'OptiCustomer = "{customer}"')]
        if (
            all(run.status is not WorkflowExecutionStatus.RUNNING for run in runs)
            or time.monotonic() > deadline
        ):
            break
        await asyncio.sleep(0.5)
    joint_runs, agent_runs = Counter[str](), Counter[str]()
    for run in runs:
        assert run.status is WorkflowExecutionStatus.COMPLETED, (run.id, run.status)
        if run.workflow_type == "JointOptimizationWorkflow":
            joint_runs[run.id.split("/")[2]] += 1
        elif run.workflow_type == "AgentOptimizationWorkflow":
            agent_runs[run.id.split("/")[2]] += 1
    return joint_runs, agent_runs


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_scan_survives_a_killed_worker_and_optimizes_no_workload_twice(
    temporal_client: Client,
    temporal_dev_server: DevServer,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> None:
    database_url, sessions = harness_store
    customer = f"killed-{uuid4().hex[:8]}"
    await _seed(sessions, customer)
    queue = f"scan-killed-{uuid4()}"
    settings = harness_settings(queue, activity_timeout_seconds=10)
    env = {
        **os.environ,
        "OPTIINFRA_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "OPTIINFRA_TEMPORAL_TASK_QUEUE": queue,
        "OPTIINFRA_DATABASE_URL": database_url,
        "OPTIINFRA_AWS_ENDPOINT_URL": seeded_cloud.endpoint_url,
        "OPTIINFRA_AWS_REGION": seeded_cloud.region,
        "OPTIINFRA_WORKER_METRICS_ADDRESS": "",
    }
    workers = [_start_worker(env, tmp_path / f"worker-{n}") for n in range(2)]
    scan_id = f"scan/killed-{uuid4().hex[:8]}"
    try:
        handle = await temporal_client.start_workflow(
            FleetScanWorkflow.run,
            FleetScanRequest(
                customer_id=customer,
                agents=[AgentKind.COST],
                batch_size=5,
                batches_per_run=2,
                timing=ExecutionTiming(
                    activity_timeout_seconds=settings.activity_timeout_seconds,
                    activity_heartbeat_seconds=5,
                    activity_max_attempts=5,
                ),
            ),
            id=scan_id,
            task_queue=queue,
        )
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # under way: a first batch started
            try:
                progress = await temporal_client.get_workflow_handle(scan_id).query(
                    FleetScanWorkflow.progress
                )
            except RPCError:  # a query can time out while the workers start on a loaded machine: ask again
                progress = None
            if progress is not None and progress.summary.started_count > 0:
                break
            assert time.monotonic() < deadline, "the scan started nothing"
            await asyncio.sleep(0.1)
        assert not progress.done  # mid-scan: pages are left to list and start
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()

        summary = await asyncio.wait_for(
            temporal_client.get_workflow_handle_for(FleetScanWorkflow.run, scan_id).result(), TIMEOUT_S
        )
        assert summary.scanned == WORKLOADS
        assert (summary.started_count, summary.already_running_count, summary.failure_count) == (
            WORKLOADS,
            0,
            0,
        )
        for workflow_id in summary.started:
            joint = temporal_client.get_workflow_handle(workflow_id, result_type=JointStatus)
            await asyncio.wait_for(joint.result(), TIMEOUT_S)

        joint_runs, agent_runs = await _runs_once_closed(temporal_client, customer)
        expected = set(workload_ids(WORKLOADS))
        assert set(joint_runs) == expected and set(joint_runs.values()) == {1}
        assert set(agent_runs) == expected and set(agent_runs.values()) == {1}
        assert handle.id == scan_id
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
