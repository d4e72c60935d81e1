"""Savings of executed changes: the estimate accrues per hour in effect, the realized figure is the
workload's mean hourly cost before the change minus after it. Expected figures are worked out by hand from
the records below."""

from datetime import UTC, date, datetime, timedelta

import pytest

from optiinfra.domain.enums import PurchaseOption, RecommendationStatus, RecommendationType
from optiinfra.metrics.store import CostSample
from optiinfra.reports.changes import ExecutedChange, executed_changes
from optiinfra.reports.costs import HourCost, hour_costs
from optiinfra.reports.days import DayRange
from optiinfra.reports.savings import change_savings, savings_report
from optiinfra.store.repository import RecommendationRecord
from tests.optiinfra.store import factories

EXECUTED_AT = datetime(2026, 3, 8, 12, 20, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _sample(instance_id: str, hour: datetime, usd: float = 1.5) -> CostSample:
    return CostSample(
        customer_id="acme",
        instance_id=instance_id,
        instance_type="g5.xlarge",
        lifecycle=PurchaseOption.ON_DEMAND,
        hour=hour,
        hourly_usd=usd,
    )


def _chat_hours() -> list[HourCost]:
    """Two $1.50 one-GPU instances for the 7 days and 12 hours before the change's hour, three in that hour,
    one after it; and a $100 record in the hour still running at NOW."""
    pivot = datetime(2026, 3, 8, 12, tzinfo=UTC)
    first = datetime(2026, 3, 1, 0, tzinfo=UTC)
    samples = []
    hour = first
    while hour < pivot:
        samples += [_sample("i-a", hour), _sample("i-b", hour)]
        hour += HOUR
    samples += [_sample("i-a", pivot), _sample("i-b", pivot), _sample("i-c", pivot)]
    hour = pivot + HOUR
    while hour < datetime(2026, 3, 10, tzinfo=UTC):
        samples.append(_sample("i-c", hour))
        hour += HOUR
    samples.append(_sample("i-c", hour, usd=100.0))
    return hour_costs(samples, {"g5.xlarge": 1}, {})


def _change(
    recommendation_id: str = "rec-1", at: datetime = EXECUTED_AT, workload_id: str = "chat"
) -> ExecutedChange:
    return ExecutedChange(
        recommendation_id=recommendation_id,
        customer_id="acme",
        workload_id=workload_id,
        type=RecommendationType.RIGHT_SIZING,
        title="One replica fewer",
        executed_at=at,
        estimated_monthly_savings_usd=730.0,  # $1 an hour
    )


def test_a_change_is_measured_on_the_week_before_and_the_complete_hours_after() -> None:
    measured = change_savings(_change(), _chat_hours(), next_change_at=None, now=NOW)
    assert (measured.before.start, measured.before.end) == (
        datetime(2026, 3, 1, 12, tzinfo=UTC),
        datetime(2026, 3, 8, 12, tzinfo=UTC),
    )
    assert (measured.before.measured_hours, measured.before.hourly_cost_usd, measured.before.mean_gpus) == (
        168,
        3.0,
        2.0,
    )
    # From the hour after the change's to the last complete hour (the $100 hour still runs).
    assert (measured.after.start, measured.after.end) == (
        datetime(2026, 3, 8, 13, tzinfo=UTC),
        datetime(2026, 3, 10, 0, tzinfo=UTC),
    )
    assert (measured.after.measured_hours, measured.after.hourly_cost_usd) == (35, 1.5)
    assert measured.realized_hourly_savings_usd == 1.5
    assert measured.realized_monthly_savings_usd == pytest.approx(1095.0)
    assert measured.realized_gpus_saved == 1.0
    assert measured.note is None


def test_the_next_change_of_the_workload_ends_the_after_window() -> None:
    later = datetime(2026, 3, 9, 6, 10, tzinfo=UTC)
    measured = change_savings(_change(), _chat_hours(), next_change_at=later, now=NOW)
    assert measured.after.end == datetime(2026, 3, 9, 6, tzinfo=UTC)
    assert measured.after.measured_hours == 17


def test_without_cost_before_or_after_nothing_is_claimed() -> None:
    nothing_before = change_savings(
        _change(at=datetime(2026, 2, 1, tzinfo=UTC)), [], next_change_at=None, now=NOW
    )
    assert nothing_before.realized_hourly_savings_usd is None
    assert nothing_before.note is not None and "before" in nothing_before.note
    too_soon = change_savings(
        _change(), _chat_hours(), next_change_at=None, now=EXECUTED_AT + timedelta(minutes=5)
    )
    assert too_soon.realized_monthly_savings_usd is None
    assert too_soon.note is not None and "after" in too_soon.note


def test_each_day_accrues_the_hours_a_change_was_in_effect() -> None:
    days = DayRange(first=date(2026, 3, 8), end=date(2026, 3, 11))
    batch_hour = hour_costs(
        [_sample("i-z", datetime(2026, 3, 9, 5, tzinfo=UTC), usd=4.0)], {"g5.xlarge": 1}, {}
    )
    report = savings_report(
        days,
        [factories.workload(workload_id="chat"), factories.workload(workload_id="batch")],
        [_change()],
        {("acme", "chat"): _chat_hours(), ("acme", "batch"): batch_hour},
        now=NOW,
    )
    rows = {(row.workload_id, row.day): row for row in report.days}
    assert sorted(rows) == [
        ("batch", date(2026, 3, 9)),
        ("chat", date(2026, 3, 8)),
        ("chat", date(2026, 3, 9)),
        ("chat", date(2026, 3, 10)),
    ]
    first = rows[("chat", date(2026, 3, 8))]
    in_effect = 11 + 40 / 60  # 12:20 to midnight
    assert first.changes_executed == ["rec-1"]
    assert first.estimated_savings_usd == pytest.approx(in_effect)
    assert first.realized_savings_usd == pytest.approx(1.5 * in_effect)
    assert first.realized_gpu_hours_saved == pytest.approx(in_effect)
    assert (first.cost_usd, first.gpu_hours, first.measured_hours) == (12 * 3.0 + 4.5 + 11 * 1.5, 38.0, 24)
    second = rows[("chat", date(2026, 3, 9))]
    assert (second.estimated_savings_usd, second.realized_savings_usd, second.cost_usd) == (24.0, 36.0, 36.0)
    today = rows[("chat", date(2026, 3, 10))]  # in effect until NOW, 00:30
    assert (today.estimated_savings_usd, today.realized_savings_usd, today.cost_usd) == (0.5, 0.75, 100.0)
    batch = rows[("batch", date(2026, 3, 9))]
    assert (batch.changes_in_effect, batch.realized_savings_usd, batch.cost_usd) == (0, None, 4.0)
    assert report.totals.estimated_savings_usd == pytest.approx(in_effect + 24.5)
    assert report.totals.realized_savings_usd == pytest.approx(1.5 * (in_effect + 24.5))
    assert report.totals.cost_usd == pytest.approx(57.0 + 36.0 + 100.0 + 4.0)
    assert [c.recommendation_id for c in report.changes] == ["rec-1"]


def test_changes_of_other_workloads_and_after_the_days_are_left_out() -> None:
    days = DayRange(first=date(2026, 3, 1), end=date(2026, 3, 8))
    report = savings_report(
        days,
        [factories.workload(workload_id="chat")],
        [_change(), _change("rec-2", at=datetime(2026, 3, 2, tzinfo=UTC), workload_id="batch")],
        {("acme", "chat"): _chat_hours()},
        now=NOW,
    )
    assert report.changes == []
    assert all(row.changes_in_effect == 0 and row.estimated_savings_usd == 0 for row in report.days)


def _record(recommendation_id: str, *, steps: bool, finished_at: datetime) -> RecommendationRecord:
    found = factories.recommendation(recommendation_id, status=RecommendationStatus.EXECUTED)
    if not steps:
        found = found.model_copy(update={"steps": []})
    outcome = factories.outcome(recommendation_id).model_copy(update={"finished_at": finished_at})
    return RecommendationRecord(recommendation=found, outcome=outcome, updated_at=finished_at)


def test_executed_changes_skip_advice_and_take_effect_when_their_run_finished() -> None:
    records = [
        _record("rec-late", steps=True, finished_at=datetime(2026, 3, 9, tzinfo=UTC)),
        _record("rec-advice", steps=False, finished_at=datetime(2026, 3, 1, tzinfo=UTC)),
        _record("rec-early", steps=True, finished_at=datetime(2026, 3, 2, tzinfo=UTC)),
    ]
    changes = executed_changes(records)
    assert [c.recommendation_id for c in changes] == ["rec-early", "rec-late"]
    assert changes[0].executed_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert changes[0].estimated_monthly_savings_usd == 1234.56
    assert changes[0].resources == ("i-0abc", "i-0def")  # the steps' target and the instance one launched
