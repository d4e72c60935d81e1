"""SLO attainment: windows judged against a workload's p95 objectives, per day, and breaches as runs of
adjacent missed windows. Expected figures are counted by hand from the windows below."""

from datetime import UTC, date, datetime, timedelta

from optiinfra.domain.fleet import Workload
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.reports.days import DayRange
from optiinfra.reports.slo import workload_slo
from tests.optiinfra.store import factories

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = DayRange(first=date(2026, 3, 1), end=date(2026, 3, 3))


def _window(
    minute: int, ttft: float | None, itl: float | None, *, requests: float = 10, day: datetime = DAY1
) -> WorkloadWindow:
    return WorkloadWindow(
        start=day + timedelta(minutes=minute),
        seconds=60,
        replicas=2,
        requests=requests,
        request_rate=requests / 60,
        prompt_tokens=requests * 100,
        generation_tokens=requests * 50,
        errors=0,
        preemptions=0,
        ttft_p95=ttft,
        itl_p95=itl,
    )


def _workload(ttft: float | None = 0.5, itl: float | None = 0.05) -> Workload:
    return factories.workload().model_copy(update={"slo_ttft_p95_s": ttft, "slo_itl_p95_s": itl})


WINDOWS = [
    _window(0, 0.3, 0.03),  # met
    _window(1, 0.8, 0.03),  # missed ttft  } one breach
    _window(2, 0.3, 0.09),  # missed itl   }
    _window(3, None, None, requests=0),  # idle: not judged, ends the run
    _window(4, 0.6, 0.03),  # missed ttft: a breach of its own
    _window(5, 0.5, 0.05),  # met (at the objective is within it)
    _window(6, 0.2, None),  # served, but no itl quantile: unjudged
    _window(8, 0.9, 0.03),  # missed
    _window(10, 0.9, 0.03),  # missed, but minute 9 has no window: a separate breach
    _window(0, 0.1, 0.01, day=DAY1 + timedelta(days=1)),  # met, the next day
    _window(0, 9.0, 9.0, day=DAY1 + timedelta(days=2)),  # after the days: ignored
]


def test_attainment_is_met_windows_over_judged_windows_per_day() -> None:
    report = workload_slo(_workload(), WINDOWS, DAYS)
    first, second = report.days
    assert (first.day, first.windows, first.windows_judged, first.windows_met) == (date(2026, 3, 1), 9, 7, 2)
    assert first.attainment == 2 / 7
    assert first.windows_unjudged == 1
    assert (first.worst_ttft_p95_s, first.worst_itl_p95_s) == (0.9, 0.09)
    assert (second.windows_judged, second.windows_met, second.attainment) == (1, 1, 1.0)
    assert (report.windows_judged, report.windows_met, report.attainment) == (8, 3, 3 / 8)


def test_breaches_are_runs_of_adjacent_missed_windows() -> None:
    report = workload_slo(_workload(), WINDOWS, DAYS)
    assert report.breaches_total == 4
    spans = [(b.start, b.end, b.windows) for b in report.breaches]
    assert spans == [
        (DAY1 + timedelta(minutes=1), DAY1 + timedelta(minutes=3), 2),
        (DAY1 + timedelta(minutes=4), DAY1 + timedelta(minutes=5), 1),
        (DAY1 + timedelta(minutes=8), DAY1 + timedelta(minutes=9), 1),
        (DAY1 + timedelta(minutes=10), DAY1 + timedelta(minutes=11), 1),
    ]
    first = report.breaches[0]
    assert first.objectives_missed == ["itl_p95", "ttft_p95"]
    assert (first.worst_ttft_p95_s, first.worst_itl_p95_s) == (0.8, 0.09)
    assert report.breaches[1].objectives_missed == ["ttft_p95"]


def test_only_the_objectives_a_workload_has_are_judged() -> None:
    report = workload_slo(_workload(itl=None), WINDOWS, DAYS)
    # Without an itl objective, minute 2 meets and minute 6 is judged (and meets).
    assert (report.days[0].windows_judged, report.days[0].windows_met) == (8, 4)
    assert report.days[0].worst_itl_p95_s is None
    assert [b.objectives_missed for b in report.breaches] == [["ttft_p95"]] * 4


def test_a_workload_without_objectives_has_no_attainment() -> None:
    report = workload_slo(_workload(None, None), WINDOWS, DAYS)
    assert (report.attainment, report.days, report.breaches_total) == (None, [], 0)
    assert report.note is not None and "no latency objective" in report.note
