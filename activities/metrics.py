"""Metrics activities: one collection pass per workload, run by MetricsCollectionWorkflow on a Schedule."""

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from optiinfra.connections.collectors import CustomerCollectors
from optiinfra.connections.reader import ConnectionUnusableError
from optiinfra.domain.collection import CollectionReport
from optiinfra.domain.fleet import Workload
from optiinfra.metrics.collector import MetricsCollector
from workflows.contracts import ActivityName


class MetricsActivities:
    def __init__(self, collector: MetricsCollector, collectors: CustomerCollectors | None = None) -> None:
        """`collector` reads the worker's own sources; `collectors` those of a customer's connection."""
        self._collector = collector
        self._collectors = collectors

    @activity.defn(name=ActivityName.COLLECT_METRICS)
    async def collect_workload_metrics(self, workload: Workload) -> CollectionReport:
        collector = self._collector
        if self._collectors is not None:
            try:
                collector = await self._collectors.for_workload(workload)
            except ConnectionUnusableError as error:
                raise ApplicationError(str(error), type="ConnectionUnusable") from error
        return await collector.collect(workload, datetime.now(UTC))
