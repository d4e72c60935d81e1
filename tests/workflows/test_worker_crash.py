"""Killing the worker in the middle of a spot migration: a new worker finishes the run, and no side
effect happens twice (no second spot group or launch template made, no step recorded twice)."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client, WorkflowExecutionStatus

from optiinfra.control.optimizations import start_optimization
from optiinfra.domain.enums import AgentKind, DecisionKind
from optiinfra.domain.recommendation import Approval
from optiinfra.engine.devserver import DevServer
from optiinfra.engine.pollers import poller_identities
from optiinfra.store import repository
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import backfill_utilization, fleet_state, harness_settings, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT_S = 120


class WorkerProcesses:
    """All-in-one workers in their own processes, as `optiinfra worker` runs them in production."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self._started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"worker-{len(self._started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.all_in_one"],
            cwd=REPO_ROOT,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._started.append(process)
        return process

    async def polling(self, client: Client, task_queue: str, process: subprocess.Popen[bytes]) -> None:
        """Returns once `process` polls `task_queue` for workflow tasks: on a loaded machine a worker
        process takes a while to start, and that wait is not the workflow's."""
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"worker {process.pid} exited with {process.returncode}"
            polling = await poller_identities(client, task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
            if any(identity.startswith(f"{process.pid}@") for identity in polling):
                return
            assert time.monotonic() < deadline, f"worker {process.pid} did not poll within the timeout"
            await asyncio.sleep(0.2)

    def stop_all(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in sorted(self._log_dir.glob("worker-*.log")):  # shown with a failing test's report
            print(f"--- {log.name} (last lines)\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
async def workers(
    temporal_dev_server: DevServer,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> AsyncIterator[tuple[WorkerProcesses, str]]:
    task_queue = f"crash-{uuid4()}"
    await backfill_utilization(seeded_cloud, tmp_path / "metrics")
    settings = harness_settings(task_queue)
    env = {
        **os.environ,
        "OPTIINFRA_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "OPTIINFRA_TEMPORAL_TASK_QUEUE": task_queue,
        "OPTIINFRA_DATABASE_URL": harness_store[0],
        "OPTIINFRA_AWS_ENDPOINT_URL": seeded_cloud.endpoint_url,
        "OPTIINFRA_AWS_REGION": seeded_cloud.region,
        "OPTIINFRA_ACTIVITY_TIMEOUT_SECONDS": str(settings.activity_timeout_seconds),
        "OPTIINFRA_STATE_DIR": str(tmp_path),
    }
    processes = WorkerProcesses(env, tmp_path)
    yield processes, task_queue
    processes.stop_all()


SPOT_GROUP = "optiinfra-demo-code-assist-spot"


def spot_groups(cloud: SeededCloud) -> list[Any]:
    groups = cloud.groups.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    return [g for g in groups if g["AutoScalingGroupName"].startswith("optiinfra-demo-code-assist")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_new_worker_completes_the_run_without_repeating_side_effects(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    workers: tuple[WorkerProcesses, str],
) -> None:
    processes, task_queue = workers
    _, sessions = harness_store
    first = processes.start()
    await processes.polling(temporal_client, task_queue, first)
    workflow_id = await start_optimization(
        client=temporal_client,
        sessions=sessions,
        settings=harness_settings(task_queue),
        customer_id="demo",
        workload_id="code-assist",
        agent=AgentKind.COST,
    )
    handle = temporal_client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="ana")
    )

    # Kill the worker the moment the spot group exists: the creating activity is then mid-flight or its
    # completion not yet recorded, the case the group's name and the template's client token exist for.
    deadline = time.monotonic() + 60
    while not spot_groups(seeded_cloud):
        assert time.monotonic() < deadline, "no spot group was made"
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING

    await processes.polling(temporal_client, task_queue, processes.start())
    status = await asyncio.wait_for(handle.result(), timeout=120)

    assert status.phase is WorkflowPhase.EXECUTED
    (group,) = spot_groups(seeded_cloud)
    assert group["AutoScalingGroupName"] == SPOT_GROUP and len(group["Instances"]) == 4
    templates = seeded_cloud.fleet.ec2.describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in templates].count(SPOT_GROUP) == 1
    originals = seeded_cloud.seeded.instance_ids["code-assist"]
    after = fleet_state(seeded_cloud.fleet)
    assert {after[i][1] for i in originals} == {"terminated"}
    members = [after[i["InstanceId"]] for i in group["Instances"]]
    assert sorted(lifecycle for _, state, lifecycle in members if state == "running") == [
        "on-demand",
        "on-demand",
        "spot",
        "spot",
    ]
    assert status.recommendation is not None
    async with sessions() as session:
        results = await repository.list_step_results(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    recorded = [(r.step_id, r.status) for r in results]
    assert len(recorded) == len(set(recorded)) == 9  # the group, four stops, four terminations
