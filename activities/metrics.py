"""Metrics activities: one collection pass per workload, run by MetricsCollectionWorkflow on a Schedule."""

from datetime import UTC, datetime

from temporalio import activity

from optiinfra.domain.collection import CollectionReport
from optiinfra.domain.fleet import Workload
from optiinfra.metrics.collector import MetricsCollector
from workflows.contracts import ActivityName


class MetricsActivities:
    def __init__(self, collector: MetricsCollector) -> None:
        self._collector = collector

    @activity.defn(name=ActivityName.COLLECT_METRICS)
    async def collect_workload_metrics(self, workload: Workload) -> CollectionReport:
        return await self._collector.collect(workload, datetime.now(UTC))
