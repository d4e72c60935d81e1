"""The embedded Kubernetes side: the demo Deployment behind the twin's Kubernetes endpoint, its pods
simulated with a history in the metrics store and serving vLLM /metrics, following what the official client
does to the Deployment (drain, scale, new vLLM arguments)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.kube import DeploymentRef, PodsMetricAutoscaler, PodState
from optiinfra.embedded.kube_twin import EmbeddedKube
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe
from optiinfra.kube.vllm_args import flag_value, with_flag
from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import parse_vllm_metrics
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.sim.demo_kube import demo_kube_workloads

REF = DeploymentRef(namespace="inference", name="assistant")
WINDOW_S = 60.0


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedKube, AsyncMetricsStore, Deployments]]:
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    embedded = await EmbeddedKube.start(
        demo_kube_workloads("us-east-1"),
        catalog=PriceCatalog.load_default(),
        metrics=metrics,
        now=datetime.now(UTC),
        history_days=2,
        pod_ready_delay_s=0.0,
    )
    deployments = Deployments.for_url(embedded.url)
    try:
        yield embedded, metrics, deployments
    finally:
        await deployments.close()
        embedded.stop()
        store.close()


async def test_the_history_is_in_the_store_and_the_pods_serve_their_metrics(
    kube: tuple[EmbeddedKube, AsyncMetricsStore, Deployments],
) -> None:
    embedded, metrics, deployments = kube
    now = datetime.now(UTC)
    windows = await metrics.read_workload_windows("demo", "assistant", now - timedelta(days=1), now, 600)
    assert len(windows) >= 140
    assert {window.replicas for window in windows} == {8}
    rates = [window.request_rate for window in windows]
    assert max(rates) > 1.5 * min(rates) > 0  # the daily cycle
    assert all(window.ttft_p95 is not None and window.ttft_p95 < 3.0 for window in windows)

    state = await deployments.read(REF)
    assert len(state.pods) == 8
    async with httpx.AsyncClient() as http:
        probe = InFlightProbe(http, embedded.pod_metrics_url)
        in_flight = [await probe.in_flight(pod) for pod in state.pods]
        before = [await _served(http, embedded, pod) for pod in state.pods]
        await embedded.tick(WINDOW_S)
        after = [await _served(http, embedded, pod) for pod in state.pods]
    # vLLM's in-flight gauges are readable (an instant's count: a lightly loaded pod may read 0), and every
    # pod completes requests window after window.
    assert all(count is not None and count >= 0 for count in in_flight)
    assert all(b > a > 0 for a, b in zip(before, after, strict=True))


async def _served(http: httpx.AsyncClient, embedded: EmbeddedKube, pod: PodState) -> float:
    """Requests the pod's vLLM reports completed (`vllm:request_success`)."""
    url = embedded.pod_metrics_url(pod)
    assert url is not None
    response = await http.get(url)
    response.raise_for_status()
    sample = parse_vllm_metrics(response.text, replica=pod.name, at=datetime.now(UTC))
    return sample.counters.get(names.REQUEST_SUCCESS, 0.0)


async def test_a_drained_pod_empties_and_a_scale_down_removes_it(
    kube: tuple[EmbeddedKube, AsyncMetricsStore, Deployments],
) -> None:
    embedded, _, deployments = kube
    pods = (await deployments.read(REF)).pods
    drained = pods[0]
    await deployments.set_serving(REF, [drained.name], serving=False)
    await embedded.tick(WINDOW_S)
    async with httpx.AsyncClient() as http:
        probe = InFlightProbe(http, embedded.pod_metrics_url)
        assert await probe.in_flight(drained) == 0
        before = [await _served(http, embedded, p) for p in pods]
        await embedded.tick(WINDOW_S)
        after = [await _served(http, embedded, p) for p in pods]
        assert after[0] == before[0], "a drained pod completes nothing more"
        assert all(b > a for a, b in zip(before[1:], after[1:], strict=True)), "the others carry the traffic"
        await deployments.scale(REF, 7)
        await embedded.tick(WINDOW_S)
        left = (await deployments.read(REF)).pods
        assert drained.name not in {pod.name for pod in left}
        assert embedded.pod_metrics_url(drained) is None
        assert len(left) == 7
        assert all(count is not None for count in [await probe.in_flight(p) for p in left])


async def test_pods_rolled_out_with_new_vllm_arguments_run_on_them(
    kube: tuple[EmbeddedKube, AsyncMetricsStore, Deployments],
) -> None:
    embedded, _, deployments = kube
    before = await deployments.read(REF)
    await deployments.set_args(REF, with_flag(before.args, "--max-num-seqs", 64), expected=before.args)
    after = await deployments.wait_rolled_out(REF, timeout_s=30, poll_s=0.05)
    await embedded.tick(WINDOW_S)
    assert {flag_value(pod.args, "--max-num-seqs") for pod in after.pods} == {"64"}
    assert not {pod.name for pod in after.pods} & {pod.name for pod in before.pods}
    assert {replica.config.max_num_seqs for replica in embedded.replicas("assistant")} == {64}
    assert all(embedded.pod_metrics_url(pod) is not None for pod in after.pods)


async def test_an_autoscaler_on_the_pods_running_requests_scales_the_deployment_each_tick(
    kube: tuple[EmbeddedKube, AsyncMetricsStore, Deployments],
) -> None:
    """The demo's eight pods run far below ten requests each: the autoscaler takes the count down to its
    floor on the next window, reading the gauges the pods serve."""
    embedded, _, deployments = kube
    wanted = PodsMetricAutoscaler(ref=REF, min_replicas=3, max_replicas=12, target_per_pod=10.0)
    manifest = wanted.manifest()
    manifest["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 0
    embedded.cluster.create_autoscaler(REF.namespace, manifest)

    await embedded.tick(WINDOW_S)

    assert (await deployments.read(REF)).replicas == 3
    status = embedded.cluster.get_autoscaler(REF.namespace, REF.name)["status"]
    assert status["desiredReplicas"] == 3 and "lastScaleTime" in status
    (reading,) = status["currentMetrics"]
    assert reading["pods"]["metric"]["name"] == "vllm:num_requests_running"
