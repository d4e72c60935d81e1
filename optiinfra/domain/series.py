"""Evenly spaced utilization series on a grid of whole periods aligned to the epoch, as CloudWatch
buckets them: shared by every source of utilization (CloudWatch, the metrics store)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import MetricSeries


@dataclass(frozen=True)
class PeriodGrid:
    """Whole periods, aligned to multiples of the period since the epoch, that ended by the window's end."""

    start: datetime
    period_seconds: int
    count: int

    @classmethod
    def covering(cls, start: datetime, end: datetime, period_seconds: int) -> PeriodGrid:
        if period_seconds <= 0 or period_seconds % 60:
            raise ValueError("period_seconds must be a positive multiple of 60")
        first = floor_to_period(as_utc(start), period_seconds)
        last_end = floor_to_period(as_utc(end), period_seconds)
        return cls(first, period_seconds, max(0, int((last_end - first).total_seconds()) // period_seconds))

    def at(self, index: int) -> datetime:
        return self.start + timedelta(seconds=index * self.period_seconds)

    def index_of(self, timestamp: datetime) -> int | None:
        offset = (as_utc(timestamp) - self.start).total_seconds()
        index = int(offset // self.period_seconds)
        return index if 0 <= index < self.count else None

    def chunks(self, max_periods: int) -> Iterable[tuple[datetime, datetime]]:
        for first in range(0, self.count, max_periods):
            yield self.at(first), self.at(min(self.count, first + max_periods))


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes (as SQLite hands back) are taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def floor_to_period(moment: datetime, period_seconds: int) -> datetime:
    """CloudWatch buckets on multiples of the period since the epoch; so do the adapter and the seeder."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % period_seconds, tz=UTC)


def even_series(
    instance_id: str, metric: UtilizationMetric, grid: PeriodGrid, points: dict[int, float]
) -> MetricSeries | None:
    """Evenly spaced series from sparse per-period points.

    Rule: periods before the first and after the last datapoint are dropped (the series starts at the
    first period with data); missing periods in between are filled by linear interpolation between the
    neighbouring datapoints. No datapoint at all gives no series."""
    if not points:
        return None
    known = sorted(points)
    values: list[float] = []
    for left, right in itertools.pairwise(known):
        step = (points[right] - points[left]) / (right - left)
        values.extend(points[left] + step * offset for offset in range(right - left))
    values.append(points[known[-1]])
    return MetricSeries(
        instance_id=instance_id,
        metric=metric,
        start=grid.at(known[0]),
        period_seconds=grid.period_seconds,
        values=values,
    )
