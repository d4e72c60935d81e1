"""Metrics of each customer's workloads collected from its own sources: the instances and CloudWatch of its
account, its Prometheus (with its bearer token) and its cluster's pods; what its connection leaves out
comes from the worker's own sources, as configured in settings."""

from datetime import timedelta

import httpx

from optiinfra.connections.accounts import CustomerAccounts
from optiinfra.connections.clusters import CustomerClusters
from optiinfra.connections.model import CustomerConnection
from optiinfra.connections.reader import ConnectionReader
from optiinfra.domain.fleet import Workload
from optiinfra.kube.in_flight import PodMetricsUrl
from optiinfra.kube.pod_targets import DeploymentPodTargets
from optiinfra.metrics.collector import MetricsCollector
from optiinfra.metrics.prometheus_windows import PrometheusWindowSource
from optiinfra.settings import Settings


class CustomerCollectors:
    def __init__(
        self,
        default: MetricsCollector,
        *,
        settings: Settings,
        connections: ConnectionReader,
        accounts: CustomerAccounts,
        clusters: CustomerClusters,
        pod_metrics_url: PodMetricsUrl,
    ) -> None:
        self._default = default
        self._settings = settings
        self._connections = connections
        self._accounts = accounts
        self._clusters = clusters
        self._pod_metrics_url = pod_metrics_url
        self._prometheus_clients: dict[str, tuple[str, httpx.AsyncClient]] = {}

    async def for_workload(self, workload: Workload) -> MetricsCollector:
        connection = await self._connections.get(workload.customer_id)
        if connection is None:
            return self._default
        account = await self._accounts.for_customer(workload.customer_id, workload.region)
        cluster = await self._clusters.for_customer(workload.customer_id)
        return self._default.with_sources(
            fleet=account.fleet,
            prometheus=await self._prometheus(connection) or self._default.prometheus,
            pods=DeploymentPodTargets(cluster, self._pod_metrics_url) if cluster is not None else None,
        )

    async def _prometheus(self, connection: CustomerConnection) -> PrometheusWindowSource | None:
        if connection.spec.prometheus_url is None:
            return None
        url = str(connection.spec.prometheus_url).rstrip("/")
        token = connection.secrets.prometheus_token
        key = f"{url}|{hash(token.get_secret_value()) if token else ''}"
        kept = self._prometheus_clients.get(connection.customer_id)
        if kept is None or kept[0] != key:
            if kept is not None:
                await kept[1].aclose()
            headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
            kept = (key, httpx.AsyncClient(headers=headers))
            self._prometheus_clients[connection.customer_id] = kept
        return PrometheusWindowSource(
            url,
            kept[1],
            instance_label=self._settings.prometheus_instance_label,
            window=timedelta(seconds=self._settings.metrics_interval_seconds),
        )

    async def aclose(self) -> None:
        for _, client in self._prometheus_clients.values():
            await client.aclose()
        self._prometheus_clients.clear()
