"""How many requests a vLLM pod still holds (running plus waiting), read from its /metrics: a drained pod
may be removed only once this reaches zero."""

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from optiinfra.domain.kube import PodState
from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import parse_vllm_metrics

PodMetricsUrl = Callable[[PodState], str | None]
"""Where a pod serves vLLM's /metrics; None when it cannot be reached (no IP yet)."""


def pod_ip_metrics_url(port: int) -> PodMetricsUrl:
    """In a cluster: the pod's own IP and vLLM's port."""

    def url(pod: PodState) -> str | None:
        return f"http://{pod.pod_ip}:{port}/metrics" if pod.pod_ip else None

    return url


class InFlightProbe:
    def __init__(self, http: httpx.AsyncClient, metrics_url: PodMetricsUrl, timeout_s: float = 5.0) -> None:
        self._http = http
        self._metrics_url = metrics_url
        self._timeout_s = timeout_s

    async def in_flight(self, pod: PodState) -> float | None:
        """Requests running or queued on the pod; None when its metrics cannot be read."""
        url = self._metrics_url(pod)
        if url is None:
            return None
        try:
            response = await self._http.get(url, timeout=self._timeout_s)
            response.raise_for_status()
        except httpx.HTTPError:
            return None
        sample = parse_vllm_metrics(response.text, replica=pod.name, at=datetime.now(UTC))
        return sample.gauges.get(names.NUM_REQUESTS_RUNNING, 0.0) + sample.gauges.get(
            names.NUM_REQUESTS_WAITING, 0.0
        )
