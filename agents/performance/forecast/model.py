"""What a forecast is: the method that made it and, per future interval, a mean and a prediction interval."""

import math
from dataclasses import dataclass
from enum import StrEnum

from agents.performance.forecast.history import GRID_TOLERANCE


class ForecastMethod(StrEnum):
    PROPHET = "prophet"
    SEASONAL_NAIVE = "seasonal_naive"
    HOLT_WINTERS = "holt_winters"
    """Additive triple exponential smoothing with a damped trend and a daily season."""


@dataclass(frozen=True)
class Forecast:
    """Forecast request rate: interval i covers [start_s + i*interval_s, start_s + (i+1)*interval_s) and holds
    the mean forecast rate and the bounds of its prediction interval. Every number is finite and
    non-negative, and lower <= mean <= upper."""

    method: ForecastMethod
    start_s: float
    interval_s: float
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise ValueError(f"forecast start must be finite, got {self.start_s}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"forecast interval must be positive, got {self.interval_s}")
        object.__setattr__(self, "start_s", float(self.start_s))
        object.__setattr__(self, "interval_s", float(self.interval_s))
        if not self.mean:
            raise ValueError("a forecast needs at least one interval")
        if not len(self.mean) == len(self.lower) == len(self.upper):
            raise ValueError("forecast mean, lower and upper must have one value per interval")
        for name in ("mean", "lower", "upper"):
            values = tuple(float(value) for value in getattr(self, name))
            if not all(math.isfinite(value) and value >= 0 for value in values):
                raise ValueError(f"{self.method} forecast {name} must be finite and non-negative")
            object.__setattr__(self, name, values)
        for low, mid, high in zip(self.lower, self.mean, self.upper, strict=True):
            if not low <= mid <= high:
                raise ValueError(
                    f"{self.method} forecast needs lower <= mean <= upper, got {low}, {mid}, {high}"
                )

    @property
    def end_s(self) -> float:
        """End of the last forecast interval."""
        return self.start_s + len(self.mean) * self.interval_s

    @property
    def steps(self) -> int:
        return len(self.mean)

    def time_of(self, index: int) -> float:
        """Start of forecast interval `index`."""
        return self.start_s + index * self.interval_s

    def peak(self, start_s: float, end_s: float, *, use_upper: bool = True) -> float:
        """Highest upper bound (or mean) over the forecast intervals that overlap [start_s, end_s)."""
        if not (math.isfinite(start_s) and math.isfinite(end_s) and end_s > start_s):
            raise ValueError(f"the span [{start_s}, {end_s}) is empty")
        first = max(0, math.floor((start_s - self.start_s) / self.interval_s + GRID_TOLERANCE))
        last = min(self.steps - 1, math.ceil((end_s - self.start_s) / self.interval_s - GRID_TOLERANCE) - 1)
        if first > last:
            raise ValueError(
                f"no forecast interval overlaps [{start_s}, {end_s}): "
                f"the forecast covers [{self.start_s}, {self.end_s})"
            )
        values = self.upper if use_upper else self.mean
        return max(values[first : last + 1])

    def at(self, t_s: float) -> tuple[float, float, float]:
        """(mean, lower, upper) of the forecast interval that holds `t_s`."""
        if not math.isfinite(t_s):
            raise ValueError(f"time must be finite, got {t_s}")
        index = math.floor((t_s - self.start_s) / self.interval_s + GRID_TOLERANCE)
        if not 0 <= index < self.steps:
            raise ValueError(f"{t_s} lies outside the forecast [{self.start_s}, {self.end_s})")
        return self.mean[index], self.lower[index], self.upper[index]
