"""One collection pass over a workload: scrape each vLLM replica's /metrics into window statistics,
and copy the instances' utilization into the metrics store.

Window statistics need two samples; the collector keeps each replica's previous sample in memory, so
the first pass after a (re)start only primes and later passes write one window per replica. Given a
`PrometheusWindowSource`, the collector reads the window [now - window, now] from Prometheus instead
and scrapes nothing: Prometheus keeps the history, so every pass writes, the first one included."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.domain.collection import CollectionReport
from optiinfra.domain.fleet import Instance, InstanceType, Workload
from optiinfra.domain.series import floor_to_period
from optiinfra.metrics.prometheus_api import PrometheusQueryError
from optiinfra.metrics.prometheus_windows import PrometheusWindowSource
from optiinfra.metrics.scrape import ScrapeError, VllmSample, scrape_vllm
from optiinfra.metrics.store import CostSample
from optiinfra.metrics.utilization import AsyncMetricsStore, copy_cloudwatch_utilization
from optiinfra.metrics.windows import WindowStats, window_stats

UTILIZATION_PERIOD_SECONDS = 3600
BACKFILL = timedelta(days=14)
CATCH_UP = timedelta(hours=3)


@dataclass(frozen=True)
class ScrapeTarget:
    replica: str
    url: str


class ScrapeTargetResolver(Protocol):
    """Where a workload's replicas serve vLLM metrics."""

    def targets(self, instances: Sequence[Instance]) -> list[ScrapeTarget]: ...


class PrivateIpTargets:
    """vLLM on the instance itself: http://<private ip>:<port>/metrics, as on a plain EC2 fleet."""

    def __init__(self, port: int) -> None:
        self._port = port

    def targets(self, instances: Sequence[Instance]) -> list[ScrapeTarget]:
        return [
            ScrapeTarget(replica=i.instance_id, url=f"http://{i.private_ip}:{self._port}/metrics")
            for i in instances
            if i.private_ip and i.state == "running"
        ]


class StaticTargets:
    """A fixed replica -> URL map (the twin's emulators, or a static inventory)."""

    def __init__(self, urls_by_instance: dict[str, str]) -> None:
        self.urls_by_instance = urls_by_instance

    def targets(self, instances: Sequence[Instance]) -> list[ScrapeTarget]:
        return [
            ScrapeTarget(replica=i.instance_id, url=self.urls_by_instance[i.instance_id])
            for i in instances
            if i.instance_id in self.urls_by_instance
        ]


class PodTargetResolver(Protocol):
    """Where the pods of a workload served by a Kubernetes Deployment serve vLLM metrics."""

    async def pod_targets(self, workload: Workload) -> list[ScrapeTarget]: ...


class MetricsCollector:
    def __init__(
        self,
        *,
        store: AsyncMetricsStore,
        fleet: Ec2Fleet,
        resolver: ScrapeTargetResolver,
        http: httpx.AsyncClient,
        catalog: PriceCatalog,
        prometheus: PrometheusWindowSource | None = None,
        pods: PodTargetResolver | None = None,
    ) -> None:
        self._pods = pods
        self._store = store
        self._prometheus = prometheus
        self._fleet = fleet
        self._resolver = resolver
        self._http = http
        self._catalog = catalog
        self._previous: dict[str, VllmSample] = {}

    @property
    def prometheus(self) -> PrometheusWindowSource | None:
        return self._prometheus

    def with_sources(
        self,
        *,
        fleet: Ec2Fleet,
        prometheus: PrometheusWindowSource | None,
        pods: PodTargetResolver | None,
    ) -> "MetricsCollector":
        """The same collector reading another customer's account, Prometheus and cluster; it writes to the
        same store and keeps the same counter history (keyed by replica, which accounts never share)."""
        other = MetricsCollector(
            store=self._store,
            fleet=fleet,
            resolver=self._resolver,
            http=self._http,
            catalog=self._catalog,
            prometheus=prometheus,
            pods=pods,
        )
        other._previous = self._previous
        return other

    async def collect(self, workload: Workload, now: datetime) -> CollectionReport:
        customer_id, workload_id = workload.customer_id, workload.workload_id
        report = CollectionReport(customer_id=customer_id, workload_id=workload_id)
        instances = await self._fleet.describe_workload_instances(customer_id, workload_id)
        instance_types = {t.name: t for t in self._catalog.types_in(workload.region)}
        report.utilization_rows = await self._copy_utilization(customer_id, instances, instance_types, now)
        report.cost_rows = await self._record_costs(customer_id, instances, instance_types, now)
        if workload.on_kubernetes:
            # Its replicas are pods, not instances of its own: scraped through the Deployment.
            if self._pods is None:
                report.failures.append("runs on Kubernetes, but no Kubernetes API is configured")
            else:
                await self._scrape(report, await self._pods.pod_targets(workload))
        elif self._prometheus is not None:
            await self._query_prometheus(self._prometheus, report, instances, now)
        else:
            await self._scrape(report, self._resolver.targets(instances))
        return report

    async def _copy_utilization(
        self,
        customer_id: str,
        instances: Sequence[Instance],
        instance_types: dict[str, InstanceType],
        now: datetime,
    ) -> int:
        known = {
            i.instance_id: instance_types[i.instance_type]
            for i in instances
            if i.instance_type in instance_types
        }
        if not known:
            return 0
        recent = await self._store.read_utilization(
            list(known), now - timedelta(days=1), now, UTILIZATION_PERIOD_SECONDS
        )
        lookback = CATCH_UP if recent else BACKFILL
        return await copy_cloudwatch_utilization(
            fleet=self._fleet,
            store=self._store,
            customer_id=customer_id,
            instance_types=known,
            start=now - lookback,
            end=now,
            period_seconds=UTILIZATION_PERIOD_SECONDS,
        )

    async def _record_costs(
        self,
        customer_id: str,
        instances: Sequence[Instance],
        instance_types: dict[str, InstanceType],
        now: datetime,
    ) -> int:
        """What each running instance costs this hour, at catalog prices for its purchase option
        (a later pass in the same hour replaces the row)."""
        hour = floor_to_period(now, 3600)
        rows = [
            CostSample(
                customer_id=customer_id,
                instance_id=i.instance_id,
                instance_type=i.instance_type,
                lifecycle=i.lifecycle,
                hour=hour,
                hourly_usd=instance_types[i.instance_type].hourly_price(i.lifecycle),
            )
            for i in instances
            if i.state == "running" and i.instance_type in instance_types
        ]
        if rows:
            await self._store.write_cost_samples(rows)
        return len(rows)

    async def _scrape(self, report: CollectionReport, targets: Sequence[ScrapeTarget]) -> None:
        samples = await asyncio.gather(*(self._scrape_one(t) for t in targets), return_exceptions=True)
        rows: list[WindowStats] = []
        for target, sample in zip(targets, samples, strict=True):
            if isinstance(sample, BaseException):
                report.failures.append(f"{target.replica} ({target.url}): {sample}")
                continue
            previous = self._previous.get(target.replica)
            self._previous[target.replica] = sample
            if previous is None:
                report.primed_replicas += 1
                continue
            rows.append(
                window_stats(previous, sample, customer_id=report.customer_id, workload_id=report.workload_id)
            )
        if rows:
            await self._store.write_window_stats(rows)
        report.window_rows = len(rows)

    async def _query_prometheus(
        self,
        prometheus: PrometheusWindowSource,
        report: CollectionReport,
        instances: Sequence[Instance],
        now: datetime,
    ) -> None:
        """Like `_scrape`, a failure is reported rather than raised, so that utilization and costs
        of the pass are kept; a running replica without series is a failure, as an unreachable one is."""
        try:
            rows = await prometheus.window_stats(report.customer_id, report.workload_id, instances, now)
        except PrometheusQueryError as error:
            report.failures.append(f"prometheus: {error}")
            return
        if rows:
            await self._store.write_window_stats(rows)
        report.window_rows = len(rows)
        written = {row.replica for row in rows}
        report.failures.extend(
            f"{instance.instance_id} ({key}): no series in Prometheus"
            for key, instance in prometheus.selected(instances).items()
            if instance.instance_id not in written
        )

    async def _scrape_one(self, target: ScrapeTarget) -> VllmSample:
        try:
            return await scrape_vllm(target.url, self._http, replica=target.replica)
        except ScrapeError:
            raise
        except httpx.HTTPError as error:
            raise ScrapeError(str(error)) from error
