"""A Deployment-served workload for end-to-end tests: the twin's Kubernetes API and vLLM /metrics over HTTP,
two weeks of comfortable latency windows in chdb, and a real worker on its own task queue."""

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.control.optimizations import start_optimization
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.fleet import Workload
from optiinfra.domain.kube import SERVE_LABEL, PodState
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.metrics.windows import WindowStats
from optiinfra.settings import Settings
from optiinfra.sim.kube.manifests import vllm_deployment_manifest
from optiinfra.sim.kube.server import KubeApiServer, start_kube_server
from optiinfra.sim.kube.state import KubeCluster
from optiinfra.sim.vllm_emulator import ReplicaMetricsState, VllmEmulatorServer
from optiinfra.store import repository
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import DemoCollector, harness_settings
from workers.all_in_one import build_worker
from workflows.agent_optimization import AgentOptimizationWorkflow

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
NAMESPACE, NAME = "demo", "assistant"
REPLICAS = 6
IN_FLIGHT = 4
"""Requests each pod holds until it has been out of traffic a moment."""


@dataclass
class KubeTwin:
    cluster: KubeCluster
    server: KubeApiServer
    emulators: VllmEmulatorServer
    states: dict[str, ReplicaMetricsState] = field(default_factory=dict)
    deletions: list[tuple[str, bool, float]] = field(default_factory=list)
    """(pod, serving when deleted, requests in flight when deleted)"""
    serving_at_deletion: dict[str, str] = field(default_factory=dict)

    def pod_url(self, pod: PodState) -> str | None:
        return self.emulators.metrics_url(pod.name) if pod.name in self.states else None

    def record_deletion(self, pod: str, deployment: str, namespace: str) -> None:
        snapshot = self.states[pod].snapshot()
        in_flight = sum(
            snapshot.gauges.get(name, 0.0)
            for name in ("vllm:num_requests_running", "vllm:num_requests_waiting")
        )
        self.deletions.append((pod, self.serving_at_deletion.get(pod, "true") != "false", in_flight))

    async def finish_drained_requests(self) -> None:
        """What vLLM does for a pod out of the Service: it finishes what it holds and takes nothing new."""
        drained_since: dict[str, float] = {}
        while True:
            for pod in self.cluster.pods(NAMESPACE):
                name = pod["metadata"]["name"]
                serve = pod["metadata"].get("labels", {}).get(SERVE_LABEL, "true")
                self.serving_at_deletion[name] = serve
                if serve == "false":
                    since = drained_since.setdefault(name, asyncio.get_running_loop().time())
                    if asyncio.get_running_loop().time() - since > 1.0 and name in self.states:
                        self.states[name].set_gauges(running=0, waiting=0)
            await asyncio.sleep(0.1)


def window_rows(
    pods: list[str],
    start: datetime,
    count: int,
    *,
    workload_id: str = NAME,
    load: float = 1.0,
    latency: float = 1.0,
) -> list[WindowStats]:
    """`count` 10-minute windows per pod from `start`: a daily cycle between 1 and 3 req/s for the whole
    Deployment with comfortable latencies (six L40S replicas carry about twice that within the 80 ms p95
    ITL objective: 2,000-token prompts ride in prefill steps that a p95 gap catches once they pass 5% of
    steps), the rate times `load` and every latency figure times `latency`."""
    rows: list[WindowStats] = []
    for index in range(count):
        at = start + timedelta(minutes=10 * index)
        total = load * (2.0 + 1.0 * math.cos(2 * math.pi * (at.hour + at.minute / 60 - 15) / 24))
        requests = total * 600 / len(pods)
        for pod in pods:
            rows.append(
                WindowStats(
                    customer_id="demo",
                    workload_id=workload_id,
                    replica=pod,
                    model_name=MODEL,
                    window_start=at,
                    window_end=at + timedelta(minutes=10),
                    counter_reset=False,
                    requests=requests,
                    prompt_tokens=requests * 2000,
                    generation_tokens=requests * 250,
                    preemptions=0,
                    prefix_queries=0,
                    prefix_hits=0,
                    errors=0,
                    aborts=0,
                    request_rate=requests / 600,
                    prompt_tps=0,
                    generation_tps=0,
                    preemption_rate=0,
                    prefix_hit_rate=None,
                    error_rate=0.0,
                    ttft_mean=0.3 * latency,
                    ttft_p50=0.25 * latency,
                    ttft_p90=0.5 * latency,
                    ttft_p95=0.6 * latency,
                    ttft_p99=0.9 * latency,
                    itl_mean=0.03 * latency,
                    itl_p50=0.03 * latency,
                    itl_p90=0.035 * latency,
                    itl_p95=0.04 * latency,
                    itl_p99=0.05 * latency,
                    e2e_mean=8 * latency,
                    e2e_p50=7 * latency,
                    e2e_p95=14 * latency,
                    e2e_p99=20 * latency,
                    queue_mean=0.01,
                    queue_p50=0.0,
                    queue_p95=0.05,
                    queue_p99=0.1,
                    running=2,
                    waiting=0,
                    kv_usage=0.2,
                )
            )
    return rows


@dataclass
class PerformanceHarness:
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    twin: KubeTwin
    task_queue: str
    metrics: AsyncMetricsStore
    workload_id: str = NAME

    def settings(self, **overrides: Any) -> Settings:
        return harness_settings(self.task_queue, activity_timeout_seconds=60, **overrides)

    async def run(self, agent: AgentKind = AgentKind.PERFORMANCE, **overrides: Any) -> Any:
        workflow_id = await start_optimization(
            client=self.client,
            sessions=self.sessions,
            settings=self.settings(**overrides),
            customer_id="demo",
            workload_id=self.workload_id,
            agent=agent,
        )
        return self.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)


@asynccontextmanager
async def kube_harness(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    extra_args: Sequence[str] = (),
    *,
    workload_id: str = NAME,
    load: float = 1.0,
    latency: float = 1.0,
) -> AsyncIterator[PerformanceHarness]:
    """The Deployment `demo/assistant` of REPLICAS pods, its vLLM started with `extra_args`, serving the
    workload `workload_id` (which may also own EC2 instances); two weeks of its latency windows, with the
    request rate times `load` and latencies times `latency`."""
    twin = KubeTwin(cluster=KubeCluster(), server=None, emulators=VllmEmulatorServer())  # type: ignore[arg-type]
    twin.cluster.on_pod_deleted = twin.record_deletion
    twin.cluster.create_deployment(
        vllm_deployment_manifest(NAMESPACE, NAME, MODEL, "g6e.xlarge", 1, REPLICAS, extra_args=extra_args)
    )
    twin.server = start_kube_server(twin.cluster)
    pods = [pod["metadata"]["name"] for pod in twin.cluster.pods(NAMESPACE)]
    for pod in pods:
        state = ReplicaMetricsState(MODEL)
        state.set_gauges(running=IN_FLIGHT, waiting=0)
        twin.states[pod] = state
        twin.emulators.add_replica(pod, state)
    async with sessions.begin() as session:
        await repository.upsert_workload(
            session=session,
            workload=Workload(
                customer_id="demo",
                workload_id=workload_id,
                name="Assistant",
                model_name=MODEL,
                region="us-east-1",
                slo_ttft_p95_s=3.0,
                slo_itl_p95_s=0.08,
                kube_namespace=NAMESPACE,
                kube_deployment=NAME,
            ),
        )
    store = ChdbMetricsStore(tmp_path / "metrics")
    now = datetime.now(UTC)
    store.write_window_stats(
        window_rows(
            pods, now - timedelta(days=14), 14 * 144, workload_id=workload_id, load=load, latency=latency
        )
    )
    metrics = AsyncMetricsStore(store)
    deployments = Deployments.for_url(twin.server.url)
    task_queue = f"tests-{uuid4()}"
    finisher = asyncio.create_task(twin.finish_drained_requests())
    try:
        async with httpx.AsyncClient() as http:
            worker = build_worker(
                temporal_client,
                task_queue=task_queue,
                sessions=sessions,
                fleet=seeded_cloud.fleet,
                scaling_groups=seeded_cloud.groups,
                collector=DemoCollector(metrics, seeded_cloud.fleet, http),
                metrics=metrics,
                deployments=deployments,
                in_flight=InFlightProbe(http, twin.pod_url),
            )
            async with worker:
                yield PerformanceHarness(temporal_client, sessions, twin, task_queue, metrics, workload_id)
    finally:
        finisher.cancel()
        await asyncio.gather(finisher, return_exceptions=True)
        await deployments.close()
        twin.server.stop()
        twin.emulators.stop()
        store.close()
