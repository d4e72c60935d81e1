"""The span a report covers: whole UTC days, the first included and the end excluded."""

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)
"""Dates outside these are refused: the metrics store keeps hourly costs as DateTime (1970-2106), and no
report can reach back to before the first GPU cloud anyway."""


class DayRangeError(ValueError):
    """A span a report cannot cover; `parameter` is the one at fault (since or until)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class DayRange(BaseModel):
    """Days [first, end) in UTC."""

    model_config = ConfigDict(frozen=True)

    first: date
    end: date

    @classmethod
    def of(
        cls, since: date | None, until: date | None, *, today: date, max_days: int = MAX_DAYS
    ) -> "DayRange":
        """`until` defaults to the day after `today` (so today is in), `since` to `DEFAULT_DAYS` before
        `until`. DayRangeError names what is wrong: an order, a span over `max_days`, a date out of range."""
        for name, given in (("since", since), ("until", until)):
            if given is not None and not EARLIEST <= given <= LATEST:
                raise DayRangeError(name, f"{name} must lie between {EARLIEST} and {LATEST}")
        end = until if until is not None else today + timedelta(days=1)
        first = since if since is not None else end - timedelta(days=DEFAULT_DAYS)
        if first >= end:
            raise DayRangeError("since", "since must come before until (until is excluded)")
        if (end - first).days > max_days:
            raise DayRangeError(
                "since", f"a report covers at most {max_days} days; this asks for {(end - first).days}"
            )
        return cls(first=first, end=end)

    @property
    def start_at(self) -> datetime:
        return day_start(self.first)

    @property
    def end_at(self) -> datetime:
        return day_start(self.end)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.end - self.first).days)]

    def holds(self, moment: datetime) -> bool:
        return self.start_at <= moment < self.end_at


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def overlap_hours(start: datetime, end: datetime, span_start: datetime, span_end: datetime) -> float:
    """Hours [start, end) and [span_start, span_end) share; 0 when they do not meet."""
    seconds = (min(end, span_end) - max(start, span_start)).total_seconds()
    return max(0.0, seconds / 3600)
