"""Pieces the forecasting methods share: the seasons, residual quantiles and building a clipped forecast."""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from agents.performance.forecast.history import RateHistory
from agents.performance.forecast.model import Forecast, ForecastMethod

DAY_S = 86400.0
WEEK_S = 7 * DAY_S

FloatArray = npt.NDArray[np.float64]


def season_steps(season_s: float, interval_s: float) -> int:
    """Intervals per season, rounded to the nearest whole interval; at least one."""
    if not (math.isfinite(season_s) and season_s > 0):
        raise ValueError(f"season must be positive, got {season_s}")
    return max(1, round(season_s / interval_s))


def check_request(history: RateHistory, horizon_steps: int, interval_width: float) -> FloatArray:
    """The history's values as an array, once the common arguments are known to be usable."""
    if horizon_steps < 1:
        raise ValueError(f"horizon must be at least one step, got {horizon_steps}")
    if not 0 < interval_width < 1:
        raise ValueError(f"interval width must lie in (0, 1), got {interval_width}")
    values = np.asarray(history.values, dtype=np.float64)
    if not np.isfinite(values).any():
        raise ValueError("the history has no observed rate")
    return values


def quantile_band(residuals: FloatArray, interval_width: float) -> tuple[float, float]:
    """The residuals' lower and upper quantiles enclosing `interval_width` of them; (0, 0) without any."""
    if residuals.size == 0:
        return 0.0, 0.0
    tail = (1.0 - interval_width) / 2.0
    low, high = np.quantile(residuals, [tail, 1.0 - tail])
    return float(low), float(high)


def clipped_forecast(
    method: ForecastMethod,
    history: RateHistory,
    mean: Sequence[float] | FloatArray,
    lower: Sequence[float] | FloatArray,
    upper: Sequence[float] | FloatArray,
) -> Forecast:
    """A forecast starting where the history ends, with every number clipped at zero and the bounds widened
    where needed to hold the mean."""
    mid = np.maximum(np.asarray(mean, dtype=np.float64), 0.0)
    low = np.clip(np.asarray(lower, dtype=np.float64), 0.0, mid)
    high = np.maximum(np.asarray(upper, dtype=np.float64), mid)
    return Forecast(
        method=method,
        start_s=history.end_s,
        interval_s=history.interval_s,
        mean=tuple(float(value) for value in mid),
        lower=tuple(float(value) for value in low),
        upper=tuple(float(value) for value in high),
    )
