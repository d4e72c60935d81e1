"""The fleet's figures on the API's /metrics, read from the stores (`optiinfra.reports.fleet_snapshot`) at
most once per `refresh_seconds` whatever the number of scrapers, and exported as gauges:

- `optiinfra_workload_spend_usd_per_hour{customer,workload}`: the last measured hour's instance cost;
- `optiinfra_workload_slo_attainment_ratio{customer,workload}`: judged windows that met the objectives over
  the last hour, and `optiinfra_workload_slo_windows_judged` beside it;
- `optiinfra_workload_last_change_timestamp_seconds{customer,workload}`: when our last executed change to
  the workload finished (Unix seconds; a change in it is a dashboard annotation);
- `optiinfra_approval_queue_pending{customer}` (0 for a customer with workloads and none waiting) and
  `optiinfra_approval_queue_oldest_age_seconds{customer}`;
- `optiinfra_fleet_snapshot_timestamp_seconds`: when the figures were read.

A figure that was not measured has no series. The stores are read beside the scrapes, which wait for a read
only briefly: a scrape is answered within its timeout, with the last figures while a read is slow. When the
stores cannot be read, the last figures stay and the snapshot's timestamp shows their age."""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.reports.fleet_snapshot import FleetSnapshot, fleet_snapshot

log = logging.getLogger(__name__)

WORKLOAD = ["customer", "workload"]
SCRAPE_WAIT_SECONDS = 0.5
"""How long a scrape waits for a read of the stores it started or found running."""


class FleetGauges:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        refresh_seconds: float,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh_seconds = refresh_seconds
        self._window_seconds = window_seconds
        self._clock = clock
        self._read_at: float | None = None
        self._reading: asyncio.Task[None] | None = None
        self.spend = Gauge(
            "optiinfra_workload_spend_usd_per_hour",
            "Instance cost of the workload in its last measured hour, USD per hour",
            WORKLOAD,
            registry=registry,
        )
        self.attainment = Gauge(
            "optiinfra_workload_slo_attainment_ratio",
            "Share of the workload's judged windows in the last hour that met its latency objectives",
            WORKLOAD,
            registry=registry,
        )
        self.judged = Gauge(
            "optiinfra_workload_slo_windows_judged",
            "Windows of the workload judged against its objectives in the last hour",
            WORKLOAD,
            registry=registry,
        )
        self.last_change = Gauge(
            "optiinfra_workload_last_change_timestamp_seconds",
            "When OptiInfra's last executed change to the workload finished, Unix seconds",
            WORKLOAD,
            registry=registry,
        )
        self.pending = Gauge(
            "optiinfra_approval_queue_pending",
            "Recommendations waiting for a person's decision, by customer",
            ["customer"],
            registry=registry,
        )
        self.oldest = Gauge(
            "optiinfra_approval_queue_oldest_age_seconds",
            "How long the customer's oldest recommendation waiting for a decision has waited, seconds",
            ["customer"],
            registry=registry,
        )
        self.taken = Gauge(
            "optiinfra_fleet_snapshot_timestamp_seconds",
            "When the fleet's figures on this endpoint were read from the stores, Unix seconds",
            registry=registry,
        )

    async def refresh(
        self, sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics | None
    ) -> None:
        """Start reading the stores again unless the last read began less than `refresh_seconds` ago, and
        wait for the read in progress at most `SCRAPE_WAIT_SECONDS`: a slow store never makes a scrape time
        out (it is answered with the last figures, the next scrape gets the new ones)."""
        started = self._clock()
        idle = self._reading is None or self._reading.done()
        if idle and (self._read_at is None or started - self._read_at >= self._refresh_seconds):
            self._read_at = started
            self._reading = asyncio.create_task(self._read(sessions, metrics), name="fleet-metrics")
        if self._reading is not None and not self._reading.done():
            await asyncio.wait({self._reading}, timeout=SCRAPE_WAIT_SECONDS)

    async def aclose(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            await asyncio.wait({self._reading})

    async def _read(
        self, sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics | None
    ) -> None:
        try:
            snapshot = await fleet_snapshot(
                sessions, metrics, datetime.now(UTC), window_seconds=self._window_seconds
            )
        except Exception:
            log.warning("the fleet's figures could not be read; /metrics keeps the last ones", exc_info=True)
            return
        self.show(snapshot)

    def show(self, snapshot: FleetSnapshot) -> None:
        for gauge in (self.spend, self.attainment, self.judged, self.last_change, self.pending, self.oldest):
            gauge.clear()
        for reading in snapshot.workloads:
            labels = {"customer": reading.customer_id, "workload": reading.workload_id}
            if reading.spend_usd_per_hour is not None:
                self.spend.labels(**labels).set(reading.spend_usd_per_hour)
            if reading.slo_attainment is not None:
                self.attainment.labels(**labels).set(reading.slo_attainment)
                self.judged.labels(**labels).set(reading.slo_windows_judged)
            if reading.last_change_at is not None:
                self.last_change.labels(**labels).set(reading.last_change_at.timestamp())
        for customer in {reading.customer_id for reading in snapshot.workloads}:
            self.pending.labels(customer=customer).set(0)  # overwritten below for a customer with any
        for queue in snapshot.approval_queues:
            self.pending.labels(customer=queue.customer_id).set(queue.pending)
            self.oldest.labels(customer=queue.customer_id).set(queue.oldest_age_seconds)
        self.taken.set(snapshot.taken_at.timestamp())
