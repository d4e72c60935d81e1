"""SLO attainment per workload and UTC day, and the breaches with their windows.

A workload's objectives are its p95 TTFT and p95 inter-token latency (`Workload.slo_*`). Its serving is
judged window by window on the collection grid, all replicas together as the Performance agent reads them
(`WorkloadWindow`): a window's p95 is the worst replica's, an upper bound of the pooled requests' p95, so a
window that meets an objective here met it for every request pool. A window is judged when it served a
request and every objective's quantile was measured; it is met when every quantile is within its
objective. Attainment is met windows over judged windows (the windows are of equal length, so this is
also the share of judged time). A breach is a run of adjacent judged windows that missed; a window
without traffic, or without a measured quantile, ends a run."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel, Field

from optiinfra.domain.fleet import Workload
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.reports.days import DayRange

MAX_BREACHES = 1000
BASIS = (
    "Each collection window of the workload, all replicas together (a window's p95 is its worst "
    "replica's), is judged against the workload's p95 TTFT and inter-token latency objectives when it served "
    "a request and every objective's quantile was measured. Attainment: met windows / judged windows. A "
    "breach: adjacent judged windows that missed an objective."
)


class SloBreach(BaseModel):
    start: datetime
    end: datetime
    windows: int
    objectives_missed: list[str] = Field(description="ttft_p95 and/or itl_p95")
    worst_ttft_p95_s: float | None
    worst_itl_p95_s: float | None


class SloDay(BaseModel):
    day: date
    windows: int = Field(description="Windows with any report from a replica")
    windows_judged: int
    windows_met: int
    attainment: float | None = Field(description="windows_met / windows_judged; null when none was judged")
    windows_unjudged: int = Field(description="Windows that served requests but lacked a quantile")
    worst_ttft_p95_s: float | None
    worst_itl_p95_s: float | None


class WorkloadSlo(BaseModel):
    customer_id: str
    workload_id: str
    ttft_p95_objective_s: float | None
    itl_p95_objective_s: float | None
    windows_judged: int
    windows_met: int
    attainment: float | None
    days: list[SloDay]
    breaches: list[SloBreach] = Field(description=f"Oldest first, at most {MAX_BREACHES}")
    breaches_total: int
    note: str | None = None


class SloReport(BaseModel):
    since: date
    until: date = Field(description="Excluded")
    window_seconds: int
    basis: str = BASIS
    notes: list[str] = Field(default_factory=list)
    workloads: list[WorkloadSlo]


@dataclass(frozen=True)
class _Judged:
    window: WorkloadWindow
    met: bool
    missed: list[str]


def workload_slo(workload: Workload, windows: Sequence[WorkloadWindow], days: DayRange) -> WorkloadSlo:
    """`windows` on one grid, oldest first (as `read_workload_windows` gives them)."""
    objectives = {"ttft_p95": workload.slo_ttft_p95_s, "itl_p95": workload.slo_itl_p95_s}
    set_objectives = {name: limit for name, limit in objectives.items() if limit is not None}
    inside = [w for w in windows if days.holds(w.start)]
    judged = (
        [j for j in (_judge(w, set_objectives) for w in inside) if j is not None] if set_objectives else []
    )
    breaches = _breaches(inside, judged)
    met = sum(j.met for j in judged)
    return WorkloadSlo(
        customer_id=workload.customer_id,
        workload_id=workload.workload_id,
        ttft_p95_objective_s=workload.slo_ttft_p95_s,
        itl_p95_objective_s=workload.slo_itl_p95_s,
        windows_judged=len(judged),
        windows_met=met,
        attainment=met / len(judged) if judged else None,
        days=_days(inside, judged, set_objectives) if set_objectives else [],
        breaches=breaches[:MAX_BREACHES],
        breaches_total=len(breaches),
        note=None
        if set_objectives
        else "the workload has no latency objective (slo_ttft_p95_s, slo_itl_p95_s)",
    )


def attainment(workload: Workload, windows: Iterable[WorkloadWindow]) -> tuple[int, int]:
    """(judged, met) windows of `windows` against the workload's objectives, as `workload_slo` judges them;
    (0, 0) for a workload without an objective."""
    objectives = {"ttft_p95": workload.slo_ttft_p95_s, "itl_p95": workload.slo_itl_p95_s}
    set_objectives = {name: limit for name, limit in objectives.items() if limit is not None}
    if not set_objectives:
        return 0, 0
    judged = [j for j in (_judge(w, set_objectives) for w in windows) if j is not None]
    return len(judged), sum(j.met for j in judged)


def _judge(window: WorkloadWindow, objectives: dict[str, float]) -> _Judged | None:
    """None for a window that cannot be judged (no request served, or an objective's quantile missing)."""
    if window.requests <= 0:
        return None
    measured = {name: _quantile(window, name) for name in objectives}
    if any(value is None for value in measured.values()):
        return None
    missed = [name for name, value in measured.items() if value is not None and value > objectives[name]]
    return _Judged(window=window, met=not missed, missed=missed)


def _quantile(window: WorkloadWindow, name: str) -> float | None:
    return window.ttft_p95 if name == "ttft_p95" else window.itl_p95


def _days(
    windows: Sequence[WorkloadWindow], judged: Sequence[_Judged], objectives: dict[str, float]
) -> list[SloDay]:
    by_day: dict[date, list[WorkloadWindow]] = {}
    for window in windows:
        by_day.setdefault(window.start.date(), []).append(window)
    judged_by_day: dict[date, list[_Judged]] = {}
    for one in judged:
        judged_by_day.setdefault(one.window.start.date(), []).append(one)
    rows = []
    for day in sorted(by_day):
        seen, verdicts = by_day[day], judged_by_day.get(day, [])
        met = sum(j.met for j in verdicts)
        served = sum(1 for w in seen if w.requests > 0)
        rows.append(
            SloDay(
                day=day,
                windows=len(seen),
                windows_judged=len(verdicts),
                windows_met=met,
                attainment=met / len(verdicts) if verdicts else None,
                windows_unjudged=served - len(verdicts),
                worst_ttft_p95_s=_worst(w.ttft_p95 for w in seen) if "ttft_p95" in objectives else None,
                worst_itl_p95_s=_worst(w.itl_p95 for w in seen) if "itl_p95" in objectives else None,
            )
        )
    return rows


def _breaches(windows: Sequence[WorkloadWindow], judged: Sequence[_Judged]) -> list[SloBreach]:
    missed = {j.window.start: j for j in judged if not j.met}
    runs: list[list[_Judged]] = []
    current: list[_Judged] = []
    for window in windows:
        one = missed.get(window.start)
        if one is None or (current and current[-1].window.end != window.start):
            if current:
                runs.append(current)
            current = []
        if one is not None:
            current.append(one)
    if current:
        runs.append(current)
    return [_breach(run) for run in runs]


def _breach(run: Sequence[_Judged]) -> SloBreach:
    missed = sorted({name for one in run for name in one.missed})
    return SloBreach(
        start=run[0].window.start,
        end=run[-1].window.end,
        windows=len(run),
        objectives_missed=missed,
        worst_ttft_p95_s=_worst(one.window.ttft_p95 for one in run),
        worst_itl_p95_s=_worst(one.window.itl_p95 for one in run),
    )


def _worst(values: Iterable[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return max(found) if found else None
