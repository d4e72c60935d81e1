"""One scale measurement: a fleet scan of a fleet of N workloads on the embedded engine, the workers in
processes of their own as production runs them (`optiinfra worker --kind ...`), measured from outside.

Per run, on a fresh dev server (state in memory), twin cloud (moto) and SQLite store:
- K worker processes of each kind of work (`workflows.task_queues`: orchestration, that is the workflows
  and their bookkeeping activities; cloud; analysis; llm; metrics), the language-model tier off;
- one FleetScanWorkflow over the whole fleet, as a Schedule starts it;
- with `--analysis real`, first one pass of the metrics collection (it backfills 14 days of the twin
  cloud's CloudWatch history into the metrics store, as `optiinfra run` does); the cloud and metrics kinds
  then share one process, and the activity kinds run one process each whatever K: the embedded metrics
  store (chdb) lives in one process;
- the scan is done when every joint optimization it started has ended or waits for a person (a proposal
  of a customer in advisory mode waits on its execute run).

Figures: CPU of each kind's processes per optimization (one optimization = one workload's joint run with
its agents' runs), CPU per analysis by agent (from the workers' `optiinfra_analysis_cpu_seconds`
histogram), history bytes of every run (the engine's own count, compressed payloads included), and wall
time."""

import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client, WorkflowExecutionStatus

from optiinfra.bench.scale.bytecode import compile_project
from optiinfra.bench.scale.fleet import register, seed_demo_copies, synthetic_fleet
from optiinfra.bench.scale.measure import histogram_totals, percentile, process_cpu_seconds
from optiinfra.domain.enums import AgentKind
from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import free_port, start_dev_server
from optiinfra.engine.metrics_runtime import ANALYSIS_CPU_SECONDS
from optiinfra.engine.pollers import poller_identities
from optiinfra.settings import Settings
from optiinfra.sim.moto_server import start_moto_server
from optiinfra.store.database import create_engine_for, migrate, session_factory
from workflows.contracts import (
    ALL_AGENTS,
    FleetScanRequest,
    FleetScanSummary,
    MetricsCollectionRequest,
    WorkflowPhase,
)
from workflows.fleet_scan import FleetScanWorkflow
from workflows.metrics_collection import MetricsCollectionWorkflow
from workflows.task_queues import WorkKind, task_queue

QUEUE = "optiinfra-scale"
SCAN_ID = "scan/bench-scale"
ORCHESTRATION = WorkKind.ORCHESTRATION.value
JOINT = "JointOptimizationWorkflow"
AGENT = "AgentOptimizationWorkflow"
HISTORY_TARGET_BYTES = 64 * 1024
ORCHESTRATION_CPU_TARGET_S = 0.050
PROGRESS_EVERY_S = 10.0

Progress = Callable[[str], None]


class ScaleOptions(BaseModel):
    workloads: int = Field(gt=0)
    analysis: Literal["stub", "real"] = "stub"
    worker_processes: list[int] = Field(default_factory=lambda: [1, 2], min_length=1)
    per_customer: int = Field(default=50, gt=0, description="Workloads per customer of a synthetic fleet")
    agents: list[AgentKind] = Field(default_factory=lambda: list(ALL_AGENTS), min_length=1)
    batch_size: int = Field(default=100, gt=0, le=1000)
    batches_per_run: int = Field(default=10, gt=0)
    timeout_s: float = Field(default=7200.0, gt=0, description="Per run, from the scan's start")
    region: str = "us-east-1"


class ScaleRun(BaseModel):
    """One run's figures, with `worker_processes` processes of each kind of work."""

    worker_processes: int
    workloads: int
    customers: int
    started: int
    skipped: int
    failed_to_start: int
    agent_runs: int
    waiting_for_approval: int
    unsuccessful_runs: int = Field(description="Runs that failed, timed out or were terminated")
    fleet_scan_seconds: float = Field(description="From the scan's start until every run it started settled")
    scan_listing_seconds: float = Field(description="From the scan's start until it had started every run")
    optimizations_per_minute: float
    orchestration_cpu_seconds_per_optimization: float
    activity_cpu_seconds_per_optimization: float = Field(
        description="CPU of the cloud, analysis, llm and metrics processes per optimization"
    )
    cpu_seconds_per_optimization_by_group: dict[str, float] = Field(
        description="By worker group: a kind of work, or kinds sharing a process (`cloud+metrics`)"
    )
    analysis_cpu_seconds_per_optimization: dict[str, float] = Field(description="By agent")
    analysis_cpu_seconds_per_analysis: dict[str, float] = Field(description="By agent: mean of one analysis")
    analyses: dict[str, int] = Field(description="By agent: analyses run")
    history_bytes_per_optimization_p95: float = Field(description="Over the joint and agent runs")
    history_bytes_p95_by_type: dict[str, float]
    history_bytes_max: int
    scan_runs: int = Field(description="Runs of the scan itself (continued as new)")

    def targets(self) -> dict[str, bool]:
        return {
            "history_bytes_per_optimization_p95 <= 64 KiB": (
                self.history_bytes_per_optimization_p95 <= HISTORY_TARGET_BYTES
            ),
            "orchestration_cpu_seconds_per_optimization <= 0.050": (
                self.orchestration_cpu_seconds_per_optimization <= ORCHESTRATION_CPU_TARGET_S
            ),
        }


class ScaleReport(BaseModel):
    options: ScaleOptions
    cpus: int | None
    runs: list[ScaleRun]


async def run_scale(options: ScaleOptions, progress: Progress) -> ScaleReport:
    runs = []
    for processes in options.worker_processes:
        progress(f"run with {processes} worker process(es) of each kind, {options.workloads} workloads")
        runs.append(await measure_run(options, processes, progress))
    return ScaleReport(options=options, cpus=os.cpu_count(), runs=runs)


class _Worker:
    def __init__(
        self, process: subprocess.Popen[bytes], kinds: tuple[WorkKind, ...], log: Path, metrics_port: int
    ) -> None:
        self.process, self.kinds, self.log, self.metrics_port = process, kinds, log, metrics_port
        self.group = _group_name(kinds)
        self.cpu_at_start = 0.0

    def cpu_since_start(self) -> float:
        return process_cpu_seconds(self.process.pid) - self.cpu_at_start

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"a {self.group} worker exited ({self.process.returncode}): {tail}")


async def measure_run(options: ScaleOptions, processes: int, progress: Progress) -> ScaleRun:
    with tempfile.TemporaryDirectory(prefix="optiinfra-scale-") as scratch:
        root = Path(scratch)
        server = start_dev_server(db_path=None, log_path=root / "temporal.log", headless=True)
        moto = start_moto_server()
        workers: list[_Worker] = []
        try:
            database_url = f"sqlite+aiosqlite:///{root / 'store.db'}"
            await migrate(database_url)
            engine = create_engine_for(database_url)
            try:
                if options.analysis == "stub":
                    fleet = synthetic_fleet(options.workloads, options.per_customer, options.region)
                else:
                    progress("seeding copies of the demo fleet with 14 days of history in the twin cloud")
                    fleet = await seed_demo_copies(
                        options.workloads, moto.endpoint_url, options.region, datetime.now(UTC)
                    )
                customers = await register(session_factory(engine), fleet)
            finally:
                await engine.dispose()
            progress(f"{len(fleet)} workloads of {customers} customers in the store")
            env = _worker_env(server.address, database_url, moto.endpoint_url, options)
            compile_project()
            groups = worker_groups(options.analysis, processes)
            for kinds, count in groups:
                for n in range(count):
                    workers.append(_start_worker(root / f"{_group_name(kinds)}-{n}", kinds, env, options))
            client = await connect_temporal(Settings(), server.address)
            await _wait_for_pollers(client, groups, workers)
            if options.analysis == "real":
                collected = await client.execute_workflow(
                    MetricsCollectionWorkflow.run,
                    MetricsCollectionRequest(),
                    id="metrics/bench-scale",
                    task_queue=QUEUE,
                )
                progress(
                    f"metrics collected: {collected.utilization_rows} utilization rows of "
                    f"{collected.workloads} workloads, {len(collected.failures)} failures"
                )
            progress(f"{len(workers)} worker processes polling; scan starts")
            for worker in workers:
                worker.cpu_at_start = process_cpu_seconds(worker.process.pid)
            return await _scan(client, options, processes, len(fleet), customers, workers, progress)
        finally:
            for worker in workers:
                worker.process.kill()
                worker.process.wait()
            moto.stop()
            server.stop()


async def _scan(
    client: Client,
    options: ScaleOptions,
    processes: int,
    workloads: int,
    customers: int,
    workers: list[_Worker],
    progress: Progress,
) -> ScaleRun:
    started_at = time.monotonic()
    handle = await client.start_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(
            agents=options.agents, batch_size=options.batch_size, batches_per_run=options.batches_per_run
        ),
        id=SCAN_ID,
        task_queue=QUEUE,
    )
    scan = asyncio.create_task(handle.result())
    summary: FleetScanSummary | None = None
    listed_at = math.nan
    reported = started_at
    while True:
        await asyncio.sleep(1.0)
        for worker in workers:
            worker.check_alive()
        if summary is None and scan.done():
            summary = scan.result()
            listed_at = time.monotonic()
        settled, waiting = await _settled(client)
        now = time.monotonic()
        if summary is not None and settled >= summary.started_count:
            break
        if now - started_at > options.timeout_s:
            raise TimeoutError(f"{settled} of {workloads} optimizations settled in {options.timeout_s:.0f}s")
        if now - reported >= PROGRESS_EVERY_S:
            reported = now
            orchestration = sum(w.cpu_since_start() for w in workers if w.group == ORCHESTRATION)
            progress(
                f"{now - started_at:6.0f}s  {settled}/{workloads} optimizations settled "
                f"({waiting} waiting for approval), {settled / (now - started_at) * 60:.0f}/min, "
                f"orchestration CPU {orchestration:.0f}s"
            )
    elapsed = time.monotonic() - started_at
    progress(f"{elapsed:6.0f}s  all {summary.started_count} settled; reading CPU and histories")
    by_group: dict[str, float] = {}
    for worker in workers:
        by_group[worker.group] = by_group.get(worker.group, 0.0) + worker.cpu_since_start()
    orchestration_cpu = by_group[ORCHESTRATION]
    activity_cpu = sum(cpu for group, cpu in by_group.items() if group != ORCHESTRATION)
    analysis = await _analysis_cpu([w for w in workers if WorkKind.ANALYSIS in w.kinds])
    sizes, by_type, unsuccessful = await _history_sizes(client)
    optimizations = max(1, summary.started_count)
    return ScaleRun(
        worker_processes=processes,
        workloads=workloads,
        customers=customers,
        started=summary.started_count,
        skipped=summary.skipped_in_flight_count + summary.already_running_count,
        failed_to_start=summary.failure_count,
        agent_runs=len(by_type.get(AGENT, [])),
        waiting_for_approval=(await _settled(client))[1],
        unsuccessful_runs=unsuccessful,
        fleet_scan_seconds=round(elapsed, 1),
        scan_listing_seconds=round(listed_at - started_at, 1),
        optimizations_per_minute=round(summary.started_count / elapsed * 60, 1),
        orchestration_cpu_seconds_per_optimization=round(orchestration_cpu / optimizations, 4),
        activity_cpu_seconds_per_optimization=round(activity_cpu / optimizations, 4),
        cpu_seconds_per_optimization_by_group={
            group: round(cpu / optimizations, 4) for group, cpu in by_group.items()
        },
        analysis_cpu_seconds_per_optimization={
            agent: round(total / optimizations, 4) for agent, (total, _) in analysis.items()
        },
        analysis_cpu_seconds_per_analysis={
            agent: round(total / count, 4) for agent, (total, count) in analysis.items() if count
        },
        analyses={agent: int(count) for agent, (_, count) in analysis.items()},
        history_bytes_per_optimization_p95=percentile(sizes, 95),
        history_bytes_p95_by_type={kind: percentile(values, 95) for kind, values in by_type.items()},
        history_bytes_max=max(sizes, default=0),
        scan_runs=await _count(client, f'WorkflowType = "{FleetScanWorkflow.__name__}"'),
    )


async def _settled(client: Client) -> tuple[int, int]:
    """Joint runs that ended or wait for a person, and of those the waiting ones (one execute run each)."""
    ended = await _count(client, f'WorkflowType = "{JOINT}" AND ExecutionStatus != "Running"')
    waiting = await _count(
        client,
        f'WorkflowType = "{AGENT}" AND ExecutionStatus = "Running" '
        f'AND OptiStatus = "{WorkflowPhase.PENDING_APPROVAL.value}"',
    )
    return ended + waiting, waiting


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _history_sizes(client: Client) -> tuple[list[float], dict[str, list[float]], int]:
    """Every joint and agent run's history size in bytes (a running one's as it stands now), by type, and
    how many runs did not succeed."""
    sizes: list[float] = []
    by_type: dict[str, list[float]] = {}
    unsuccessful = 0
    query = f'WorkflowType = "{JOINT}" OR WorkflowType = "{AGENT}"'
    async for run in client.list_workflows(query, page_size=1000):
        size = run.raw_info.history_size_bytes
        if run.status is WorkflowExecutionStatus.RUNNING:
            described = await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
            size = described.raw_description.workflow_execution_info.history_size_bytes
        elif run.status is not WorkflowExecutionStatus.COMPLETED:
            unsuccessful += 1
        sizes.append(float(size))
        by_type.setdefault(run.workflow_type, []).append(float(size))
    return sizes, by_type, unsuccessful


async def _analysis_cpu(workers: list[_Worker]) -> dict[str, tuple[float, float]]:
    """Per agent: CPU seconds of its analyses and how many, summed over the activity processes."""
    totals: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(timeout=10.0) as http:
        for worker in workers:
            response = await http.get(f"http://127.0.0.1:{worker.metrics_port}/metrics")
            response.raise_for_status()
            for agent, (total, count) in histogram_totals(
                response.text, ANALYSIS_CPU_SECONDS, "agent"
            ).items():
                before = totals.get(agent, (0.0, 0.0))
                totals[agent] = (before[0] + total, before[1] + count)
    return totals


def _worker_env(temporal: str, database_url: str, aws_endpoint: str, options: ScaleOptions) -> dict[str, str]:
    # Nothing of the caller's OptiInfra configuration (a model tier, a Prometheus) leaks into the run.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPTIINFRA_")}
    env.setdefault("AWS_ACCESS_KEY_ID", "bench")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    env.update(
        {
            "OPTIINFRA_TEMPORAL_ADDRESS": temporal,
            "OPTIINFRA_TEMPORAL_TASK_QUEUE": QUEUE,
            "OPTIINFRA_DATABASE_URL": database_url,
            "OPTIINFRA_AWS_ENDPOINT_URL": aws_endpoint,
            "OPTIINFRA_AWS_REGION": options.region,
            "OPTIINFRA_LOG_LEVEL": "WARNING",
            # The twin cloud does not throttle, and the synthetic customers share its one account: the
            # per-account rate that protects a real account would only measure itself here.
            "OPTIINFRA_CLOUD_CALLS_PER_SECOND": "0",
        }
    )
    if options.analysis == "real":
        # One analysis at a time per process: a CmdStan fit's CPU is then charged to its own analysis.
        env["OPTIINFRA_WORKER_ANALYSIS_SLOTS"] = "1"
    return env


def worker_groups(analysis: str, processes: int) -> list[tuple[tuple[WorkKind, ...], int]]:
    """The worker processes of a run: `processes` of each kind; with real analysis the activity kinds
    one process each, cloud and metrics in one (they share the embedded metrics store)."""
    if analysis == "stub":
        return [((kind,), processes) for kind in WorkKind]
    return [
        ((WorkKind.ORCHESTRATION,), processes),
        ((WorkKind.CLOUD, WorkKind.METRICS), 1),
        ((WorkKind.ANALYSIS,), 1),
        ((WorkKind.LLM,), 1),
    ]


def _group_name(kinds: tuple[WorkKind, ...]) -> str:
    return "+".join(kind.value for kind in kinds)


def _start_worker(
    state_dir: Path, kinds: tuple[WorkKind, ...], env: dict[str, str], options: ScaleOptions
) -> _Worker:
    state_dir.mkdir(parents=True)
    port = free_port()
    log = state_dir / "worker.log"
    command = [sys.executable, "-m", "optiinfra.bench.scale.worker"]
    if options.analysis == "stub":
        command.append("--stub")
    process = subprocess.Popen(
        command,
        env={
            **env,
            "OPTIINFRA_STATE_DIR": str(state_dir),  # each its own embedded metrics store
            "OPTIINFRA_WORKER_KINDS": ",".join(kind.value for kind in kinds),
            "OPTIINFRA_WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}",
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return _Worker(process, kinds, log, port)


async def _wait_for_pollers(
    client: Client,
    groups: list[tuple[tuple[WorkKind, ...], int]],
    workers: list[_Worker],
    timeout_s: float = 120,
) -> None:
    """Until each kind's queue has as many pollers as processes run that kind (the orchestration kind
    polls the base queue for workflows and for its bookkeeping activities)."""
    wanted = []
    for kinds, count in groups:
        for kind in kinds:
            queue = task_queue(QUEUE, kind)
            wanted.append((queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, count))
            if kind is WorkKind.ORCHESTRATION:
                wanted.append((queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, count))
    deadline = time.monotonic() + timeout_s
    while True:
        for worker in workers:
            worker.check_alive()
        counts = []
        for name, queue_type, _ in wanted:
            counts.append(len(await poller_identities(client, name, queue_type)))
        if all(count >= want for count, (_, _, want) in zip(counts, wanted, strict=True)):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers did not all poll their queues within {timeout_s:.0f}s: {counts}")
        await asyncio.sleep(0.5)
