"""Each report end to end: read what it needs for the workloads in scope, then compute it.

Without a metrics store (an API process on embedded chdb that the stack did not hand one: chdb is one
engine per process), figures from the store of recommendations are still given and the measured ones are
missing, with a note saying why."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.fleet import Workload
from optiinfra.domain.series import floor_to_period
from optiinfra.metrics.reporting import DailyTokens, HourlyTokens, ReportingMetrics
from optiinfra.reports.changes import ExecutedChange
from optiinfra.reports.costs import HOUR, HourCost
from optiinfra.reports.days import DayRange
from optiinfra.reports.inference_cost import InferenceCostReport, inference_cost
from optiinfra.reports.readers import changes_in_scope, workload_hours, workloads_in_scope
from optiinfra.reports.savings import COMPARISON_WINDOW, SavingsReport, WorkloadKey, savings_report
from optiinfra.reports.slo import SloReport, workload_slo

NO_METRICS = (
    "no metrics store is open in this API process, so measured figures are missing: set "
    "OPTIINFRA_CLICKHOUSE_URL, or use the API of the stack that holds the embedded store (optiinfra up)"
)


async def savings(
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    days: DayRange,
    *,
    customer_id: str | None,
    workload_id: str | None,
    now: datetime,
) -> SavingsReport:
    workloads = await workloads_in_scope(sessions, customer_id, workload_id)
    changes = await changes_in_scope(sessions, customer_id)
    hours: dict[WorkloadKey, list[HourCost]] = {}
    if metrics is not None:
        for workload in workloads:
            key = (workload.customer_id, workload.workload_id)
            hours[key] = await _savings_hours(metrics, workload, changes, days, now)
    notes = [] if metrics is not None else [NO_METRICS]
    return savings_report(days, workloads, changes, hours, now=now, notes=notes)


async def _savings_hours(
    metrics: ReportingMetrics,
    workload: Workload,
    changes: Sequence[ExecutedChange],
    days: DayRange,
    now: datetime,
) -> list[HourCost]:
    """The workload's hours over the days and over the comparison windows of its changes in effect."""
    key = (workload.customer_id, workload.workload_id)
    own = [c for c in changes if (c.customer_id, c.workload_id) == key and c.executed_at < days.end_at]
    pivots = [floor_to_period(c.executed_at, 3600) for c in own]
    start = min([days.start_at, *(pivot - COMPARISON_WINDOW for pivot in pivots)])
    end = max([days.end_at, *(pivot + HOUR + COMPARISON_WINDOW for pivot in pivots)])
    resources = {resource for c in own for resource in c.resources}
    found, _ = await workload_hours(metrics, workload, start, min(end, now + HOUR), resources=resources)
    return found


async def slo(
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    days: DayRange,
    *,
    customer_id: str | None,
    workload_id: str | None,
    window_seconds: int,
) -> SloReport:
    workloads = await workloads_in_scope(sessions, customer_id, workload_id)
    items = []
    for workload in workloads:
        windows = (
            await metrics.read_workload_windows(
                workload.customer_id, workload.workload_id, days.start_at, days.end_at, window_seconds
            )
            if metrics is not None
            else []
        )
        items.append(workload_slo(workload, windows, days))
    return SloReport(
        since=days.first,
        until=days.end,
        window_seconds=window_seconds,
        notes=[] if metrics is not None else [NO_METRICS],
        workloads=items,
    )


async def inference_costs(
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    days: DayRange,
    *,
    customer_id: str | None,
    workload_id: str | None,
    now: datetime,
) -> InferenceCostReport:
    """Tokens per hour from the raw windows over the whole days they still keep at `now`; the days before
    those are matched from the daily rollup."""
    workloads = await workloads_in_scope(sessions, customer_id, workload_id)
    changes = await changes_in_scope(sessions, customer_id) if metrics is not None else []
    items = []
    for workload in workloads:
        hours: list[HourCost] = []
        tokens: list[DailyTokens] = []
        hourly: list[HourlyTokens] = []
        instances = 0
        if metrics is not None:
            key = (workload.customer_id, workload.workload_id)
            resources = {r for c in changes if (c.customer_id, c.workload_id) == key for r in c.resources}
            hours, instances = await workload_hours(
                metrics, workload, days.start_at, days.end_at, resources=resources, utilization=True
            )
            tokens = await metrics.daily_tokens(
                workload.customer_id, workload.workload_id, days.first, days.end
            )
            raw_start = max(days.start_at, metrics.raw_windows_since(now))
            if raw_start < days.end_at:
                hourly = await metrics.hourly_tokens(
                    workload.customer_id, workload.workload_id, raw_start, days.end_at
                )
        items.append(inference_cost(workload, hours, tokens, instances=instances, hourly=hourly))
    return InferenceCostReport(
        since=days.first, until=days.end, notes=[] if metrics is not None else [NO_METRICS], items=items
    )
