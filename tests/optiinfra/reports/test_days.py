"""A report's span: whole UTC days, defaults around today, and refusals that name the parameter."""

from datetime import UTC, date, datetime

import pytest

from optiinfra.reports.days import DayRange, DayRangeError, overlap_hours

TODAY = date(2026, 3, 15)


def test_the_default_is_the_thirty_days_up_to_and_including_today() -> None:
    days = DayRange.of(None, None, today=TODAY)
    assert (days.first, days.end) == (date(2026, 2, 14), date(2026, 3, 16))
    assert len(days.days()) == 30
    assert days.days()[-1] == TODAY
    assert days.start_at == datetime(2026, 2, 14, tzinfo=UTC)


def test_since_alone_runs_to_today_and_until_alone_goes_back_thirty_days() -> None:
    assert DayRange.of(date(2026, 3, 1), None, today=TODAY).end == date(2026, 3, 16)
    assert DayRange.of(None, date(2026, 1, 31), today=TODAY).first == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("since", "until", "parameter", "words"),
    [
        (date(2026, 3, 2), date(2026, 3, 2), "since", "before until"),
        (date(2025, 1, 1), date(2026, 3, 2), "since", "at most 366 days"),
        (date(1999, 12, 31), None, "since", "between"),
        (None, date(2100, 1, 2), "until", "between"),
    ],
)
def test_a_span_that_cannot_be_covered_names_its_parameter(
    since: date | None, until: date | None, parameter: str, words: str
) -> None:
    with pytest.raises(DayRangeError, match=words) as raised:
        DayRange.of(since, until, today=TODAY)
    assert raised.value.parameter == parameter


def test_a_span_may_be_held_to_fewer_days() -> None:
    assert len(DayRange.of(date(2026, 1, 1), date(2026, 4, 3), today=TODAY, max_days=92).days()) == 92
    with pytest.raises(DayRangeError, match="at most 92 days; this asks for 93"):
        DayRange.of(date(2026, 1, 1), date(2026, 4, 4), today=TODAY, max_days=92)


def test_overlap_is_in_hours_and_never_negative() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    assert overlap_hours(day.replace(hour=18), day.replace(day=9), day, day.replace(day=2)) == 6.0
    assert overlap_hours(day.replace(day=3), day.replace(day=9), day, day.replace(day=2)) == 0.0
