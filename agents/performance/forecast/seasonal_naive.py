"""Seasonal naive: each future interval repeats the rate one season (a day, or a week) earlier.

The prediction interval comes from the history's own seasonal-naive errors: the additive residuals
y[t] - y[t - season], whose empirical quantiles are added to the point forecast. An interval k seasons ahead
repeats a value k seasons old, so its band is widened by sqrt(k), as for a random walk across seasons."""

import math

import numpy as np

from agents.performance.forecast.common import (
    DAY_S,
    WEEK_S,
    FloatArray,
    check_request,
    clipped_forecast,
    quantile_band,
    season_steps,
)
from agents.performance.forecast.history import RateHistory
from agents.performance.forecast.model import Forecast, ForecastMethod


def seasonal_residuals(values: FloatArray, lag: int) -> FloatArray:
    """y[t] - y[t - lag] wherever both are observed."""
    if lag >= values.size:
        return np.empty(0, dtype=np.float64)
    residuals = values[lag:] - values[:-lag]
    return residuals[np.isfinite(residuals)]


def choose_season_s(history: RateHistory) -> float:
    """A day, unless the history spans two weeks or more and repeating last week's value predicted its last
    week better (lower mean absolute error) than repeating yesterday's."""
    if history.duration_s < 2 * WEEK_S:
        return DAY_S
    values = np.asarray(history.values, dtype=np.float64)
    week = season_steps(WEEK_S, history.interval_s)
    errors: dict[float, float] = {}
    for season_s in (DAY_S, WEEK_S):
        lag = season_steps(season_s, history.interval_s)
        recent = np.abs(values[-week:] - values[-week - lag : values.size - lag])
        recent = recent[np.isfinite(recent)]
        errors[season_s] = float(recent.mean()) if recent.size else math.inf
    return WEEK_S if errors[WEEK_S] < errors[DAY_S] else DAY_S


def _last_finite(values: FloatArray) -> float:
    return float(values[np.isfinite(values)][-1])


def seasonal_naive_forecast(
    history: RateHistory, horizon_steps: int, *, interval_width: float = 0.9, season_s: float | None = None
) -> Forecast:
    """Repeat the rate one season earlier; when that interval is missing, the one a season before it, and so
    on; with no season of history (or none observed), the last observed rate. Without seasonal residuals to
    measure, the band is the one-step naive errors' widened by sqrt(steps ahead)."""
    values = check_request(history, horizon_steps, interval_width)
    lag = season_steps(season_s if season_s is not None else choose_season_s(history), history.interval_s)
    size = values.size
    fallback = _last_finite(values)
    residuals = seasonal_residuals(values, lag)
    low_q, high_q = quantile_band(residuals, interval_width)
    step_low_q, step_high_q = quantile_band(seasonal_residuals(values, 1), interval_width)
    mean = np.empty(horizon_steps)
    lower = np.empty(horizon_steps)
    upper = np.empty(horizon_steps)
    for step in range(horizon_steps):
        seasons_back = (step // lag) + 1
        index = size + step - seasons_back * lag
        while index >= 0 and not math.isfinite(values[index]):
            index -= lag
            seasons_back += 1
        mean[step] = values[index] if index >= 0 else fallback
        if index >= 0 and residuals.size:
            widen = math.sqrt(seasons_back)
            lower[step], upper[step] = mean[step] + low_q * widen, mean[step] + high_q * widen
        else:
            widen = math.sqrt(step + 1)
            lower[step], upper[step] = mean[step] + step_low_q * widen, mean[step] + step_high_q * widen
    return clipped_forecast(ForecastMethod.SEASONAL_NAIVE, history, mean, lower, upper)
