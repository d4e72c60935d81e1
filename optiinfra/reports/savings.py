"""Savings of executed changes, per workload and UTC day: what each change was estimated to save, and what
the workload's measured cost says it saved.

Realized savings of one change are the difference between the workload's mean hourly cost over the
comparison window before it and over the window after it: before is [h - window, h) and after
[h + 1h, h + 1h + window) where h is the hour it took effect in (left out of both: instances were being
replaced in it). The after window ends early at the next change of the same workload, so each change is
measured on its own, and at the last complete hour. Mean hourly cost is over measured hours (hours with a
cost record), so a gap in collection does not read as savings. GPU-hours saved are measured the same way
from the mean number of GPUs.

Per day, a change in effect contributes its estimated hourly savings (monthly / 730) and its realized
hourly savings for each hour of the day it was in effect (from when it took effect, up to now)."""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from agents.cost.pricing import HOURS_PER_MONTH
from optiinfra.domain.enums import RecommendationType
from optiinfra.domain.fleet import Workload
from optiinfra.domain.series import floor_to_period
from optiinfra.reports.changes import ExecutedChange
from optiinfra.reports.costs import HOUR, HourCost, totals, within
from optiinfra.reports.days import DayRange, day_start, overlap_hours

COMPARISON_WINDOW = timedelta(days=7)
WorkloadKey = tuple[str, str]
BASIS = (
    "Estimated: each executed change's estimated monthly savings / 730 for every hour it was in effect. "
    "Realized: the workload's mean hourly cost over the comparison window before the change minus after it "
    "(the hour it took effect in left out; the after window stops at the workload's next change and at the "
    "last complete hour), for every hour it was in effect. Cost and GPU-hours: the hourly cost records of "
    "the workload's instances (those its vLLM windows name and those its changes' steps named), one record "
    "per running instance and hour at catalog prices. Executed recommendations without steps (advice) are "
    "left out."
)


class CostWindow(BaseModel):
    start: datetime
    end: datetime
    measured_hours: int = Field(description="Hours with at least one cost record of the workload")
    cost_usd: float
    gpu_hours: float
    hourly_cost_usd: float | None = Field(description="cost_usd / measured_hours; null with no measured hour")
    mean_gpus: float | None


class ChangeSavings(BaseModel):
    recommendation_id: str
    customer_id: str
    workload_id: str
    type: RecommendationType
    title: str
    executed_at: datetime
    estimated_monthly_savings_usd: float
    before: CostWindow
    after: CostWindow
    realized_hourly_savings_usd: float | None
    realized_monthly_savings_usd: float | None = Field(description="realized hourly savings x 730")
    realized_gpus_saved: float | None = Field(description="Mean GPUs before minus after")
    note: str | None = Field(default=None, description="Why a realized figure is missing")


class SavingsDay(BaseModel):
    day: date
    customer_id: str
    workload_id: str
    changes_executed: list[str] = Field(description="Recommendations that took effect this day")
    changes_in_effect: int
    changes_measured: int = Field(description="Changes in effect with a realized figure")
    estimated_savings_usd: float
    realized_savings_usd: float | None = Field(description="Null when no change in effect was measured")
    realized_gpu_hours_saved: float | None
    cost_usd: float = Field(description="The workload's measured cost this day")
    gpu_hours: float
    measured_hours: int


class SavingsTotals(BaseModel):
    estimated_savings_usd: float
    realized_savings_usd: float
    realized_gpu_hours_saved: float
    cost_usd: float
    gpu_hours: float


class SavingsReport(BaseModel):
    since: date
    until: date = Field(description="Excluded")
    comparison_window_hours: int
    basis: str = BASIS
    notes: list[str] = Field(default_factory=list)
    changes: list[ChangeSavings] = Field(description="Every change in effect during the days, by time")
    days: list[SavingsDay]
    totals: SavingsTotals


def cost_window(hours: Sequence[HourCost], start: datetime, end: datetime) -> CostWindow:
    measured = totals(within(hours, start, end))
    return CostWindow(
        start=start,
        end=end,
        measured_hours=measured.measured_hours,
        cost_usd=measured.cost_usd,
        gpu_hours=measured.gpu_hours,
        hourly_cost_usd=measured.hourly_cost_usd,
        mean_gpus=measured.mean_gpus,
    )


def change_savings(
    change: ExecutedChange,
    hours: Sequence[HourCost],
    *,
    next_change_at: datetime | None,
    now: datetime,
    window: timedelta = COMPARISON_WINDOW,
) -> ChangeSavings:
    """One change measured against the workload's hours (see the module's rule)."""
    pivot = _hour_of(change.executed_at)
    after_start = pivot + HOUR
    after_end = min(after_start + window, _hour_of(now))
    if next_change_at is not None:
        after_end = min(after_end, _hour_of(next_change_at))
    before = cost_window(hours, pivot - window, pivot)
    after = cost_window(hours, after_start, max(after_start, after_end))
    hourly = gpus = None
    note = None
    if before.hourly_cost_usd is None:
        note = "no cost record of the workload in the window before the change"
    elif after.hourly_cost_usd is None:
        note = (
            "no complete hour with a cost record yet after the change (or the next change followed at once)"
        )
    else:
        hourly = before.hourly_cost_usd - after.hourly_cost_usd
        gpus = (before.mean_gpus or 0.0) - (after.mean_gpus or 0.0)
    return ChangeSavings(
        recommendation_id=change.recommendation_id,
        customer_id=change.customer_id,
        workload_id=change.workload_id,
        type=change.type,
        title=change.title,
        executed_at=change.executed_at,
        estimated_monthly_savings_usd=change.estimated_monthly_savings_usd,
        before=before,
        after=after,
        realized_hourly_savings_usd=hourly,
        realized_monthly_savings_usd=None if hourly is None else hourly * HOURS_PER_MONTH,
        realized_gpus_saved=gpus,
        note=note,
    )


def savings_report(
    days: DayRange,
    workloads: Sequence[Workload],
    changes: Sequence[ExecutedChange],
    hours: Mapping[WorkloadKey, Sequence[HourCost]],
    *,
    now: datetime,
    window: timedelta = COMPARISON_WINDOW,
    notes: Sequence[str] = (),
) -> SavingsReport:
    """The report over `days` for `workloads`; `changes` may hold changes of other workloads and changes
    that took effect after the days (both are ignored), and must be ordered by time."""
    in_scope = {(w.customer_id, w.workload_id) for w in workloads}
    relevant = [
        c for c in changes if (c.customer_id, c.workload_id) in in_scope and c.executed_at < days.end_at
    ]
    measured = _measure_all(relevant, hours, now=now, window=window)
    rows = [
        row
        for key in sorted(in_scope)
        for row in _workload_days(key, days, measured, hours.get(key, ()), now=now)
    ]
    return SavingsReport(
        since=days.first,
        until=days.end,
        comparison_window_hours=int(window.total_seconds() // 3600),
        notes=list(notes),
        changes=[m for m in measured if m.executed_at < min(days.end_at, now)],
        days=rows,
        totals=SavingsTotals(
            estimated_savings_usd=sum(r.estimated_savings_usd for r in rows),
            realized_savings_usd=sum(r.realized_savings_usd or 0.0 for r in rows),
            realized_gpu_hours_saved=sum(r.realized_gpu_hours_saved or 0.0 for r in rows),
            cost_usd=sum(r.cost_usd for r in rows),
            gpu_hours=sum(r.gpu_hours for r in rows),
        ),
    )


def _measure_all(
    changes: Sequence[ExecutedChange],
    hours: Mapping[WorkloadKey, Sequence[HourCost]],
    *,
    now: datetime,
    window: timedelta,
) -> list[ChangeSavings]:
    measured: list[ChangeSavings] = []
    for index, change in enumerate(changes):
        key = (change.customer_id, change.workload_id)
        later = (c.executed_at for c in changes[index + 1 :] if (c.customer_id, c.workload_id) == key)
        measured.append(
            change_savings(
                change, hours.get(key, ()), next_change_at=next(later, None), now=now, window=window
            )
        )
    return measured


def _workload_days(
    key: WorkloadKey,
    days: DayRange,
    measured: Sequence[ChangeSavings],
    hours: Sequence[HourCost],
    *,
    now: datetime,
) -> list[SavingsDay]:
    own = [m for m in measured if (m.customer_id, m.workload_id) == key]
    rows: list[SavingsDay] = []
    for day in days.days():
        start, end = day_start(day), day_start(day + timedelta(days=1))
        in_effect = [(m, overlap_hours(m.executed_at, now, start, end)) for m in own]
        in_effect = [(m, effect) for m, effect in in_effect if effect > 0]
        executed = [m.recommendation_id for m in own if start <= m.executed_at < end]
        cost = totals(within(hours, start, end))
        if not in_effect and not executed and not cost.measured_hours:
            continue
        realized = [(m, effect) for m, effect in in_effect if m.realized_hourly_savings_usd is not None]
        rows.append(
            SavingsDay(
                day=day,
                customer_id=key[0],
                workload_id=key[1],
                changes_executed=executed,
                changes_in_effect=len(in_effect),
                changes_measured=len(realized),
                estimated_savings_usd=sum(
                    m.estimated_monthly_savings_usd / HOURS_PER_MONTH * effect for m, effect in in_effect
                ),
                realized_savings_usd=(
                    sum((m.realized_hourly_savings_usd or 0.0) * effect for m, effect in realized)
                    if realized
                    else None
                ),
                realized_gpu_hours_saved=(
                    sum((m.realized_gpus_saved or 0.0) * effect for m, effect in realized)
                    if realized
                    else None
                ),
                cost_usd=cost.cost_usd,
                gpu_hours=cost.gpu_hours,
                measured_hours=cost.measured_hours,
            )
        )
    return rows


def _hour_of(moment: datetime) -> datetime:
    return floor_to_period(moment, 3600)
