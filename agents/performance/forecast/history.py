"""A workload's request rate on a regular time grid, the input every forecasting method shares."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optiinfra.domain.rates import RateWindow

GRID_TOLERANCE = 1e-9
"""Fraction of an interval below which a time counts as lying on a grid boundary (float noise)."""


def _whole_intervals(seconds: float, interval_s: float) -> int:
    """Whole intervals that fit in `seconds`, forgiving float noise at the boundary."""
    return math.floor(seconds / interval_s + GRID_TOLERANCE)


@dataclass(frozen=True)
class RateHistory:
    """Request rate of a workload, evenly spaced: values[i] is the mean req/s over
    [start_s + i*interval_s, start_s + (i+1)*interval_s). NaN marks a missing interval."""

    start_s: float
    interval_s: float
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise ValueError(f"history start must be finite, got {self.start_s}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"history interval must be positive, got {self.interval_s}")
        object.__setattr__(self, "start_s", float(self.start_s))
        object.__setattr__(self, "interval_s", float(self.interval_s))
        values = tuple(float(value) for value in self.values)
        for value in values:
            if math.isinf(value) or value < 0:
                raise ValueError(f"a rate must be a non-negative number or NaN, got {value}")
        object.__setattr__(self, "values", values)

    @property
    def end_s(self) -> float:
        """End of the last interval."""
        return self.start_s + len(self.values) * self.interval_s

    @property
    def duration_s(self) -> float:
        return len(self.values) * self.interval_s

    @property
    def finite_count(self) -> int:
        """Intervals with an observed rate."""
        return sum(1 for value in self.values if not math.isnan(value))

    def time_of(self, index: int) -> float:
        """Start of interval `index`."""
        return self.start_s + index * self.interval_s

    def _slice(self, begin: int, end: int) -> "RateHistory":
        return RateHistory(
            start_s=self.time_of(begin), interval_s=self.interval_s, values=self.values[begin:end]
        )

    def head(self, seconds: float) -> "RateHistory":
        """The first `seconds`: the whole intervals that fit in them (all of it when `seconds` exceeds it)."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be non-negative, got {seconds}")
        return self._slice(0, min(len(self.values), _whole_intervals(seconds, self.interval_s)))

    def tail(self, seconds: float) -> "RateHistory":
        """The last `seconds`: the whole intervals that fit in them (all of it when `seconds` exceeds it)."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be non-negative, got {seconds}")
        count = min(len(self.values), _whole_intervals(seconds, self.interval_s))
        return self._slice(len(self.values) - count, len(self.values))

    def split(self, at_s: float) -> tuple["RateHistory", "RateHistory"]:
        """The intervals that start before `at_s`, and those that start at or after it."""
        if not math.isfinite(at_s):
            raise ValueError(f"split time must be finite, got {at_s}")
        index = math.ceil((at_s - self.start_s) / self.interval_s - GRID_TOLERANCE)
        index = max(0, min(len(self.values), index))
        return self._slice(0, index), self._slice(index, len(self.values))

    @classmethod
    def from_rate_windows(cls, windows: Sequence[RateWindow], interval_s: float) -> "RateHistory":
        """Resample rate windows onto a grid that starts at the earliest window: each interval holds the
        duration-weighted mean rate of the windows overlapping it (over the part they cover); an interval
        no window covers is NaN. The grid runs to the end of the latest window."""
        if not windows:
            raise ValueError("no rate windows to resample")
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval must be positive, got {interval_s}")
        start = min(window.start_s for window in windows)
        end = max(window.end_s for window in windows)
        count = max(1, math.ceil((end - start) / interval_s - GRID_TOLERANCE))
        weighted = [0.0] * count
        covered = [0.0] * count
        min_overlap = GRID_TOLERANCE * interval_s
        for window in windows:
            first = max(0, math.floor((window.start_s - start) / interval_s))
            last = min(count - 1, math.ceil((window.end_s - start) / interval_s) - 1)
            for index in range(first, last + 1):
                cell_start = start + index * interval_s
                overlap = min(window.end_s, cell_start + interval_s) - max(window.start_s, cell_start)
                if overlap > min_overlap:
                    weighted[index] += overlap * window.rate_rps
                    covered[index] += overlap
        values = tuple(
            total / seconds if seconds > 0 else math.nan
            for total, seconds in zip(weighted, covered, strict=True)
        )
        return cls(start_s=start, interval_s=interval_s, values=values)

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]], interval_s: float) -> "RateHistory":
        """Resample (epoch_s, rate) samples onto a grid that starts at the earliest sample: each interval
        holds the mean of the samples inside it, NaN when there are none. NaN samples count as missing."""
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval must be positive, got {interval_s}")
        if not points:
            raise ValueError("no samples to resample")
        for time_s, _ in points:
            if not math.isfinite(time_s):
                raise ValueError(f"a sample time must be finite, got {time_s}")
        start = min(time_s for time_s, _ in points)
        count = _whole_intervals(max(time_s for time_s, _ in points) - start, interval_s) + 1
        sums = [0.0] * count
        counts = [0] * count
        for time_s, rate in points:
            if math.isnan(rate):
                continue
            index = min(count - 1, _whole_intervals(time_s - start, interval_s))
            sums[index] += rate
            counts[index] += 1
        values = tuple(total / n if n else math.nan for total, n in zip(sums, counts, strict=True))
        return cls(start_s=start, interval_s=interval_s, values=values)
