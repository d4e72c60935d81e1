"""The embedded fleet's Kubernetes side: the twin's Kubernetes endpoint with the demo's vLLM Deployments,
their pods simulated by a fleet twin and serving vLLM /metrics over HTTP.

The agents reach it exactly as a real cluster: the official client over HTTP for the Deployments, and each
pod's /metrics for the collector and the drain probe. On every tick the twin follows the pods as the
cluster now has them: new pods (a scale-up or a rolling update) start serving with the vLLM arguments of
their template, pods relabelled out of the Service get no new requests and finish what they hold, and
deleted pods stop; after each window the cluster's HorizontalPodAutoscalers read the pods' vLLM gauges
and scale their Deployments. Before serving, the twin writes a week of 10-minute windows, what the metrics
pipeline would have collected, so the Performance agent has a history to forecast from.

The history is written on the metrics pipeline's 10-minute grid and may reach a little past now (see
`EmbeddedKube.start`); the live twin then holds still until the wall clock has caught up with it, so that
an analysis in those first minutes reads the history alone, the same history at every start."""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.vllm_config import config_from_vllm_args
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.kube import PodState
from optiinfra.domain.series import floor_to_period
from optiinfra.kube.deployments import pod_state
from optiinfra.metrics.store import UtilizationSample
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.metrics.windows import WindowStats
from optiinfra.sim.demo_kube import DemoKubeWorkload, kube_workload_spec
from optiinfra.sim.kube.manifests import NAME_LABEL, vllm_deployment_manifest
from optiinfra.sim.kube.server import KubeApiServer, start_kube_server
from optiinfra.sim.kube.state import KubeCluster
from optiinfra.sim.twin.clock import TwinClock
from optiinfra.sim.twin.fleet import FleetTwin, ReplicaPlacement
from optiinfra.sim.twin.replica import ReplicaTwin
from optiinfra.sim.vllm_emulator import VllmEmulatorServer

HISTORY_WINDOW_S = 600.0
"""The metrics pipeline's window: what the Performance agent reads its history in."""
HISTORY_DAYS = 7
"""A week of history: enough for the daily cycle the demo traffic has (and for a held-out day to choose the
forecast method on), while the stack still starts in seconds."""
HISTORY_REQUESTS_SAMPLE = 100
"""Requests observed into each pod's histograms per history window: p95 latencies within a few percent."""
VLLM_CONTAINER = "vllm"
POD_READY_DELAY_S = 5.0
"""A new pod turns Ready this long after it is created: the twin's stand-in for image pull and weight
loading, short so that a demo scale-up is seen within a tick or two."""


def _wall_now() -> datetime:
    return datetime.now(UTC)


class _WindowStatsBuffer:
    """A twin sink that keeps the scraped window statistics (pods have no instance readings to publish)."""

    def __init__(self) -> None:
        self.rows: list[WindowStats] = []

    def write_window_stats(self, rows: Sequence[WindowStats]) -> None:
        self.rows.extend(rows)

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        pass


class EmbeddedKube:
    def __init__(
        self,
        cluster: KubeCluster,
        server: KubeApiServer,
        twin: FleetTwin,
        emulators: VllmEmulatorServer,
        demos: Sequence[DemoKubeWorkload],
        catalog: PriceCatalog,
    ) -> None:
        self.cluster = cluster
        self._server = server
        self._twin = twin
        self._emulators = emulators
        self._demos = {demo.workload.workload_id: demo for demo in demos}
        self._catalog = catalog
        self._lock = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        demos: Sequence[DemoKubeWorkload],
        *,
        catalog: PriceCatalog,
        metrics: AsyncMetricsStore,
        now: datetime,
        port: int = 0,
        history_days: int = HISTORY_DAYS,
        pod_ready_delay_s: float = POD_READY_DELAY_S,
        seed: int = 11,
        ahead_s: float = 0.0,
        time_of_day_s: float | None = None,
    ) -> "EmbeddedKube":
        """Create the Deployments, simulate `history_days` into `metrics`, then serve the Kubernetes API on
        `port` (0: any free port) and every pod's /metrics.

        The history ends on the first boundary of the 10-minute grid at or after `now + ahead_s` (so it
        reaches up to `ahead_s` plus one window past now, and `run_live` holds the twin until then); with
        `time_of_day_s`, the traffic's day stands there at that end (see `TwinClock.ending_at`)."""
        cluster = KubeCluster(ready_delay_s=pod_ready_delay_s, seed=seed)
        for demo in demos:
            cluster.create_deployment(
                vllm_deployment_manifest(
                    demo.workload.kube_namespace or "default",
                    demo.workload.kube_deployment or demo.workload.workload_id,
                    demo.workload.model_name,
                    demo.instance_type,
                    demo.gpus_per_replica,
                    demo.replicas,
                    max_num_seqs=demo.max_num_seqs,
                )
            )
        for demo in demos:
            for pod in _pods_of(cluster, demo):
                cluster.set_pod_ready(pod.namespace, pod.name, True)
        specs = [
            kube_workload_spec(demo, [p.name for p in _pods_of(cluster, demo)], catalog, seed + index)
            for index, demo in enumerate(demos)
        ]
        history_s = history_days * 86400.0
        twin = FleetTwin(
            specs,
            catalog,
            seed,
            clock=TwinClock.ending_at(history_end(now, ahead_s), history_s, time_of_day_s=time_of_day_s),
            requests_sample=HISTORY_REQUESTS_SAMPLE,
            parse_metrics_text=False,
        )
        sink = _WindowStatsBuffer()
        await asyncio.to_thread(twin.run, history_s, HISTORY_WINDOW_S, sink)
        await metrics.write_window_stats(sink.rows)
        embedded = cls(
            cluster, start_kube_server(cluster, port=port), twin, VllmEmulatorServer(), demos, catalog
        )
        embedded._follow_pods()
        return embedded

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def now(self) -> datetime:
        """The twin's time: where its history, then its live windows, have got to."""
        return self._twin.clock.now

    def replicas(self, workload_id: str) -> list[ReplicaTwin]:
        """The twin's replicas of a workload: its Deployment's ready pods at the last tick."""
        return self._twin.replicas(workload_id)

    def pod_metrics_url(self, pod: PodState) -> str | None:
        """Where a pod serves vLLM's /metrics (a `PodMetricsUrl`)."""
        urls = self._emulators.urls
        return f"{urls[pod.name]}/metrics" if pod.name in urls else None

    async def tick(self, window_s: float) -> None:
        """Follow the pods, simulate one window, then let the cluster's HorizontalPodAutoscalers act on
        the pods' vLLM gauges as a Prometheus adapter would serve them."""
        async with self._lock:
            self._follow_pods()
            await asyncio.to_thread(self._twin.advance, window_s)
            gauges = {pod: state.gauges() for pod, state in self._twin.metrics_states().items()}
            self.cluster.run_autoscalers(partial(_pod_gauge, gauges))

    async def run_live(self, window_s: float, *, wall: Callable[[], datetime] = _wall_now) -> None:
        """Keep the twin on wall-clock time: one window every `window_s` seconds until cancelled. While its
        clock is ahead of the wall clock (a history that reaches past now) it holds still, following the
        pods but serving no new requests, until the wall clock has caught up."""
        while True:
            ahead_s = (self._twin.clock.now - wall()).total_seconds()
            if ahead_s > 0:
                await asyncio.sleep(min(window_s, ahead_s))
                await self.follow()
                continue
            await asyncio.sleep(window_s)
            await self.tick(window_s)

    async def follow(self) -> None:
        """Follow the pods as the cluster now has them, without simulating any time."""
        async with self._lock:
            self._follow_pods()

    def stop(self) -> None:
        self._server.stop()
        self._emulators.stop()

    def _follow_pods(self) -> None:
        """The twin's replicas become the Deployments' ready pods, each with the vLLM configuration of its
        own arguments; pods out of the Service get no traffic. Their /metrics follow."""
        for workload_id, demo in self._demos.items():
            instance_type = self._catalog.get(demo.instance_type, demo.workload.region)
            model = capacity_model_for(demo.workload.model_name)
            placements = [
                ReplicaPlacement(
                    pod.name,
                    pod.name,
                    demo.instance_type,
                    config_from_vllm_args(
                        instance_type, model, pod.state.args, gpus_per_replica=demo.gpus_per_replica
                    ),
                    serving=pod.state.serving,
                )
                for pod in _pods_of(self.cluster, demo)
                if pod.state.ready
            ]
            self._twin.sync_replicas(workload_id, placements)
        self._emulators.serve_exactly(self._twin.metrics_states())


def history_end(now: datetime, ahead_s: float = 0.0) -> datetime:
    """The first boundary of the metrics pipeline's grid at or after `now + ahead_s`."""
    moment = now + timedelta(seconds=ahead_s)
    end = floor_to_period(moment, int(HISTORY_WINDOW_S))
    return end if end >= moment else end + timedelta(seconds=HISTORY_WINDOW_S)


def _pod_gauge(gauges: dict[str, dict[str, float]], namespace: str, pod: str, metric: str) -> float | None:
    """A pod's vLLM gauge by its Prometheus name, `vllm:num_requests_running` or the adapter's
    `vllm_num_requests_running` spelling; None for a pod or gauge the twin does not serve."""
    wanted = metric.replace(":", "_")
    for name, value in gauges.get(pod, {}).items():
        if name.replace(":", "_") == wanted:
            return value
    return None


class _Pod:
    def __init__(self, namespace: str, state: PodState) -> None:
        self.namespace = namespace
        self.state = state

    @property
    def name(self) -> str:
        return self.state.name


def _pods_of(cluster: KubeCluster, demo: DemoKubeWorkload) -> list[_Pod]:
    namespace = demo.workload.kube_namespace or "default"
    deployment = demo.workload.kube_deployment or demo.workload.workload_id
    found = cluster.pods(namespace, {NAME_LABEL: deployment})
    return [_Pod(namespace, pod_state(pod, VLLM_CONTAINER)) for pod in found]
