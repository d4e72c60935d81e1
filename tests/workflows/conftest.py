"""A real worker on its own task queue against the real dev server, a migrated store holding the demo
customer, and the seeded moto twin."""

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from agents.reasoning.layering import InferenceLayer
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.control.optimizations import start_optimization
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.fleet import Workload
from optiinfra.embedded.stack import seed_demo_store
from optiinfra.metrics.collector import MetricsCollector, StaticTargets
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.usage_history import past_cost_samples
from optiinfra.store.database import create_engine_for, session_factory
from tests.support.cloud import SeededCloud
from tests.support.polling import RETRY_INTERVAL_S, read_retrying
from workers.all_in_one import build_worker
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import OptimizationStatus, WorkflowPhase

CUSTOMER = "demo"


def harness_settings(task_queue: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "temporal_task_queue": task_queue,
        "approval_timeout_seconds": 120,
        "verify_delay_seconds": 1,
        "regression_watch_seconds": 1,
        "activity_timeout_seconds": 20,
        "activity_heartbeat_seconds": 10,
        "activity_max_attempts": 3,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Harness:
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    cloud: SeededCloud
    fleet: Ec2Fleet
    groups: ScalingGroups
    settings: Settings
    database_url: str
    targets: StaticTargets
    """Where the collector scrapes each instance's vLLM (none by default: the twin's history is written
    straight to the store); a test points an instance at a real server here."""
    metrics: AsyncMetricsStore

    async def start(
        self, workload_id: str, **setting_overrides: Any
    ) -> WorkflowHandle[Any, OptimizationStatus]:
        settings = self.settings.model_copy(update=setting_overrides)
        workflow_id = await start_optimization(
            client=self.client,
            sessions=self.sessions,
            settings=settings,
            customer_id=CUSTOMER,
            workload_id=workload_id,
            agent=AgentKind.COST,
        )
        return self.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)


async def wait_for_phase(
    handle: WorkflowHandle[Any, OptimizationStatus], phase: WorkflowPhase, timeout_s: float = 60
) -> OptimizationStatus:
    return await wait_for_status(handle, lambda status: status.phase is phase, f"phase {phase}", timeout_s)


async def wait_for_status(
    handle: WorkflowHandle[Any, OptimizationStatus],
    reached: Callable[[OptimizationStatus], bool],
    what: str,
    timeout_s: float = 60,
) -> OptimizationStatus:
    """The run's status once `reached` holds of it (queried every 0.2 s), or an AssertionError naming
    `what` it waited for. A query that fails in transit is asked again (tests.support.polling)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await read_retrying(
            lambda: handle.query(AgentOptimizationWorkflow.get_status),
            timeout_s=max(deadline - time.monotonic(), RETRY_INTERVAL_S),
        )
        if reached(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id} stayed in {status.phase}, expected {what}: {status}")
        await asyncio.sleep(0.2)


def fleet_state(fleet: Ec2Fleet) -> dict[str, tuple[str, str, str]]:
    """Every instance of the twin: id -> (type, state, lifecycle), read straight from EC2."""
    state: dict[str, tuple[str, str, str]] = {}
    for page in fleet.ec2.get_paginator("describe_instances").paginate():
        for reservation in page["Reservations"]:
            for raw in reservation["Instances"]:
                state[raw["InstanceId"]] = (
                    raw["InstanceType"],
                    raw["State"]["Name"],
                    raw.get("InstanceLifecycle", "on-demand"),
                )
    return state


@pytest.fixture
async def harness_store(database_url: str) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    engine = create_engine_for(database_url)
    sessions = session_factory(engine)
    await seed_demo_store(sessions, "us-east-1", kubernetes=False)  # no Kubernetes in this harness
    yield database_url, sessions
    await engine.dispose()


async def backfill_utilization(cloud: SeededCloud, metrics_path: Path) -> None:
    """The collection pipeline's first pass over the twin as seeded: its CloudWatch history and months of
    billing copied into a metrics store at `metrics_path`, the store the agents read from.

    The pass reads nothing but the seeded state (its instances, their history, the hour), so it is made
    once per seeded state (`SeededCloud.state`) and copied for each test: call it before the test changes
    the fleet, as a collection pass that ran before the test would have."""
    template = cloud.state.scratch / "first-pass-metrics"
    if not template.exists():
        building = cloud.state.scratch / f"first-pass-metrics-{uuid4()}"
        await _first_pass(cloud.fleet, building)
        building.rename(template)
    shutil.copytree(template, metrics_path, symlinks=True)


async def _first_pass(fleet: Ec2Fleet, metrics_path: Path) -> None:
    """Closes the store after (chdb allows one open store per process)."""
    store = ChdbMetricsStore(metrics_path)
    try:
        async with httpx.AsyncClient() as http:
            collector = DemoCollector(AsyncMetricsStore(store), fleet, http)
            for workload in demo_fleet().workloads():
                await collector.collect(workload, datetime.now(UTC))
                await backfill_usage(AsyncMetricsStore(store), fleet, workload)
    finally:
        store.close()


async def backfill_usage(metrics: AsyncMetricsStore, fleet: Ec2Fleet, workload: Workload) -> None:
    """Months of billing history, as the embedded stack writes it, so reservations can be sized."""
    instances = await fleet.describe_workload_instances(workload.customer_id, workload.workload_id)
    await metrics.write_cost_samples(
        past_cost_samples(
            workload.customer_id, instances, PriceCatalog.load_default(), workload.region, datetime.now(UTC)
        )
    )


class DemoCollector(MetricsCollector):
    """The collector over static targets, kept reachable for the tests that add some."""

    def __init__(self, metrics: AsyncMetricsStore, fleet: Ec2Fleet, http: httpx.AsyncClient) -> None:
        self.targets = StaticTargets({})
        super().__init__(
            store=metrics, fleet=fleet, resolver=self.targets, http=http, catalog=PriceCatalog.load_default()
        )


@pytest.fixture
def harness_inference() -> InferenceLayer | None:
    """The harness worker's inference layer: None, rules only; a module may override this fixture."""
    return None


@pytest.fixture
async def harness(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
    harness_inference: InferenceLayer | None,
) -> AsyncIterator[Harness]:
    database_url, sessions = harness_store
    task_queue = f"tests-{uuid4()}"
    fleet = seeded_cloud.fleet
    await backfill_utilization(seeded_cloud, tmp_path / "metrics")
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    async with httpx.AsyncClient() as http:
        collector = DemoCollector(metrics, fleet, http)
        worker = build_worker(
            temporal_client,
            task_queue=task_queue,
            sessions=sessions,
            fleet=fleet,
            scaling_groups=seeded_cloud.groups,
            collector=collector,
            metrics=metrics,
            inference=harness_inference,
        )
        try:
            async with worker:
                yield Harness(
                    client=temporal_client,
                    sessions=sessions,
                    cloud=seeded_cloud,
                    fleet=fleet,
                    groups=seeded_cloud.groups,
                    settings=harness_settings(task_queue),
                    database_url=database_url,
                    targets=collector.targets,
                    metrics=metrics,
                )
        finally:
            store.close()
