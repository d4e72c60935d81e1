"""The fleet as the API's /metrics shows it between two scrapes: per workload its spend per hour as last
measured, its SLO attainment over the last hour, and when our last change to it was executed; per customer
the recommendations waiting for a decision and the age of the oldest.

Every figure is read from the stores (the measured cost records and windows, the recommendations), the same
records the reports read, so a dashboard and a report never disagree. A figure that was not measured is left
out (no series), never reported as 0."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.fleet import Workload
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.reports.changes import ExecutedChange
from optiinfra.reports.readers import changes_in_scope, workload_cost_samples
from optiinfra.reports.slo import attainment
from optiinfra.reports.workload_detail import last_fleet
from optiinfra.store import repository

SPEND_LOOKBACK = timedelta(hours=2)
"""A workload's spend is its last recorded hour within this span (the current hour, or the one before it
while the current one has no record yet)."""
SLO_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class WorkloadReading:
    customer_id: str
    workload_id: str
    spend_usd_per_hour: float | None
    slo_windows_judged: int
    slo_windows_met: int
    last_change_at: datetime | None

    @property
    def slo_attainment(self) -> float | None:
        return self.slo_windows_met / self.slo_windows_judged if self.slo_windows_judged else None


@dataclass(frozen=True)
class ApprovalQueue:
    customer_id: str
    pending: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class FleetSnapshot:
    taken_at: datetime
    workloads: list[WorkloadReading]
    approval_queues: list[ApprovalQueue]


async def fleet_snapshot(
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    now: datetime,
    *,
    window_seconds: int,
) -> FleetSnapshot:
    """`window_seconds`: the collection grid the SLO windows are read on (OPTIINFRA_METRICS_INTERVAL_SECONDS).
    Without a metrics store, spend and attainment are left out."""
    async with sessions() as session:
        workloads = await repository.list_workloads(session=session)
        waiting = await repository.status_by_customer(
            session=session, status=RecommendationStatus.PENDING_APPROVAL
        )
    changes = await changes_in_scope(sessions, None)
    readings = [await _reading(metrics, workload, changes, now, window_seconds) for workload in workloads]
    queues = [
        ApprovalQueue(
            customer_id=one.customer_id,
            pending=one.count,
            oldest_age_seconds=max(0.0, (now - one.oldest_created_at).total_seconds()),
        )
        for one in waiting
    ]
    return FleetSnapshot(taken_at=now, workloads=readings, approval_queues=queues)


async def _reading(
    metrics: ReportingMetrics | None,
    workload: Workload,
    changes: Sequence[ExecutedChange],
    now: datetime,
    window_seconds: int,
) -> WorkloadReading:
    own = [
        c for c in changes if (c.customer_id, c.workload_id) == (workload.customer_id, workload.workload_id)
    ]
    spend, judged, met = None, 0, 0
    if metrics is not None:
        resources = {resource for change in own for resource in change.resources}
        samples = await workload_cost_samples(
            metrics, workload, now - SPEND_LOOKBACK, now, resources=resources
        )
        fleet = last_fleet(samples)
        spend = fleet.hourly_cost_usd if fleet is not None else None
        windows = await metrics.read_workload_windows(
            workload.customer_id, workload.workload_id, now - SLO_SPAN, now, window_seconds
        )
        judged, met = attainment(workload, windows)
    return WorkloadReading(
        customer_id=workload.customer_id,
        workload_id=workload.workload_id,
        spend_usd_per_hour=spend,
        slo_windows_judged=judged,
        slo_windows_met=met,
        last_change_at=max((c.executed_at for c in own), default=None),
    )
