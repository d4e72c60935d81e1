"""The fleet as the API's /metrics shows it between two scrapes: per workload its spend per hour as last
measured, its SLO attainment over the last hour, and when our last change to it was executed; per customer
the recommendations waiting for a decision and the age of the oldest.

Every figure is read from the stores (the measured cost records and windows, the recommendations), the same
records the reports read, so a dashboard and a report never disagree. A figure that was not measured is left
out (no series), never reported as 0."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.fleet import Workload
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.metrics.store import CostSample
from optiinfra.reports.changes import ExecutedChange
from optiinfra.reports.readers import changes_in_scope
from optiinfra.reports.slo import attainment
from optiinfra.reports.workload_detail import last_fleet
from optiinfra.store import repository

SPEND_LOOKBACK = timedelta(hours=2)
"""A workload's spend is its last recorded hour within this span (the current hour, or the one before it
while the current one has no record yet)."""
SLO_SPAN = timedelta(hours=1)

Key = tuple[str, str]


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
    Without a metrics store, spend and attainment are left out. The metrics store is read three times
    whatever the fleet's size (its replicas, their cost records, its windows), not per workload."""
    async with sessions() as session:
        workloads = await repository.list_workloads(session=session)
        waiting = await repository.status_by_customer(
            session=session, status=RecommendationStatus.PENDING_APPROVAL
        )
    changes: dict[Key, list[ExecutedChange]] = {}
    for change in await changes_in_scope(sessions, None):
        changes.setdefault((change.customer_id, change.workload_id), []).append(change)
    measured = (
        await _measured(metrics, workloads, changes, now, window_seconds) if metrics is not None else {}
    )
    readings = [_reading(workload, changes, measured) for workload in workloads]
    queues = [
        ApprovalQueue(
            customer_id=one.customer_id,
            pending=one.count,
            oldest_age_seconds=max(0.0, (now - one.oldest_created_at).total_seconds()),
        )
        for one in waiting
    ]
    return FleetSnapshot(taken_at=now, workloads=readings, approval_queues=queues)


@dataclass(frozen=True)
class _Measured:
    spend_usd_per_hour: float | None
    slo_windows_judged: int
    slo_windows_met: int


async def _measured(
    metrics: ReportingMetrics,
    workloads: Sequence[Workload],
    changes: Mapping[Key, Sequence[ExecutedChange]],
    now: datetime,
    window_seconds: int,
) -> dict[Key, _Measured]:
    """Per workload, its spend in its last recorded hour (the cost records of the instances its windows
    name and its changes' steps named, the customer's own only, as `workload_cost_samples` reads them) and
    its SLO attainment over the last hour."""
    spend_start = now - SPEND_LOOKBACK
    replicas = await metrics.fleet_replicas(spend_start, now)
    instances = {
        key: sorted(set(replicas.get(key, ())) | {r for c in changes.get(key, ()) for r in c.resources})
        for key in ((w.customer_id, w.workload_id) for w in workloads)
    }
    wanted = sorted({instance for named in instances.values() for instance in named})
    by_instance: dict[str, list[CostSample]] = {}
    for sample in await metrics.read_cost_samples(wanted, spend_start, now):
        by_instance.setdefault(sample.instance_id, []).append(sample)
    windows = await metrics.read_fleet_windows(now - SLO_SPAN, now, window_seconds)
    measured: dict[Key, _Measured] = {}
    for workload in workloads:
        key = (workload.customer_id, workload.workload_id)
        samples = [
            sample
            for instance in instances[key]
            for sample in by_instance.get(instance, ())
            if sample.customer_id == workload.customer_id
        ]
        fleet = last_fleet(samples)
        judged, met = attainment(workload, windows.get(key, ()))
        measured[key] = _Measured(fleet.hourly_cost_usd if fleet is not None else None, judged, met)
    return measured


def _reading(
    workload: Workload, changes: Mapping[Key, Sequence[ExecutedChange]], measured: Mapping[Key, _Measured]
) -> WorkloadReading:
    key = (workload.customer_id, workload.workload_id)
    figures = measured.get(key, _Measured(None, 0, 0))
    return WorkloadReading(
        customer_id=workload.customer_id,
        workload_id=workload.workload_id,
        spend_usd_per_hour=figures.spend_usd_per_hour,
        slo_windows_judged=figures.slo_windows_judged,
        slo_windows_met=figures.slo_windows_met,
        last_change_at=max((c.executed_at for c in changes.get(key, ())), default=None),
    )
