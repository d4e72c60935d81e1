"""Holt-Winters: additive triple exponential smoothing with a damped trend and a daily season.

In error-correction form, with e[t] the one-step error y[t] - (level + phi*trend + season[t - m]):
level += phi*trend + alpha*e, trend = phi*trend + beta*e, season[t] = season[t - m] + gamma*e. The four
parameters minimise the mean squared one-step error (L-BFGS-B from the best of a small fixed grid of
starting points, so the fit is deterministic); a missing interval leaves the state to run on unobserved.

The prediction interval adds the empirical quantiles of the in-sample one-step errors, scaled by the
model's own h-step error growth sqrt(1 + sum over j < h of c_j^2), with
c_j = alpha + beta*phi*(1 - phi^j)/(1 - phi) + gamma*[j is a whole number of seasons]."""

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from agents.performance.forecast.common import (
    DAY_S,
    FloatArray,
    check_request,
    clipped_forecast,
    quantile_band,
    season_steps,
)
from agents.performance.forecast.history import RateHistory
from agents.performance.forecast.model import Forecast, ForecastMethod

BOUNDS = ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (0.8, 0.98))
"""alpha, beta, gamma, phi. Damping keeps a short-lived trend from running away over a long horizon."""
DIVERGED = 1e12
"""Loss of parameters whose filter blows up (the series is scaled to at most 1, so sane fits score < 1)."""
STARTS = tuple(itertools.product((0.1, 0.3, 0.6), (0.0, 0.05), (0.05, 0.3), (0.9,)))


@dataclass(frozen=True)
class HoltWintersFit:
    """Smoothing parameters, the state after the last observation and the in-sample one-step errors."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    level: float
    trend: float
    seasonals: tuple[float, ...]
    """season[t] for the last m intervals of the history, oldest first."""
    residuals: tuple[float, ...]


def _initial_state(values: FloatArray, period: int) -> tuple[float, float, list[float]]:
    first = values[:period]
    second = values[period : 2 * period]
    level = float(np.nanmean(first))
    trend = (float(np.nanmean(second)) - level) / period if np.isfinite(second).any() else 0.0
    seasonals = [float(value - level) if math.isfinite(value) else 0.0 for value in first]
    return level, trend, seasonals


def _run(
    params: FloatArray | tuple[float, ...],
    values: list[float],
    period: int,
    start: tuple[float, float, list[float]],
) -> tuple[float, float, list[float], list[float]]:
    """Filter the series: the final level, trend and seasonal buffer and the one-step errors (NaN where the
    interval is missing)."""
    alpha, beta, gamma, phi = (float(value) for value in params)
    level, trend, init = start
    seasonals = list(init)
    errors = [math.nan] * len(values)
    for t, observed in enumerate(values):
        slot = t % period
        damped = phi * trend
        if observed == observed:  # not NaN
            error = observed - (level + damped + seasonals[slot])
            errors[t] = error
            level += damped + alpha * error
            trend = damped + beta * error
            seasonals[slot] += gamma * error
        else:
            level += damped
            trend = damped
    return level, trend, seasonals, errors


def fit_holt_winters(history: RateHistory, *, season_s: float = DAY_S) -> HoltWintersFit:
    """Fit the parameters and state to the history: it needs two seasons of it, the first with an observed
    rate."""
    values = np.asarray(history.values, dtype=np.float64)
    period = season_steps(season_s, history.interval_s)
    if period < 2:
        raise ValueError(f"a season of {season_s} s holds fewer than two {history.interval_s} s intervals")
    if values.size < 2 * period:
        raise ValueError(
            f"Holt-Winters needs two seasons ({2 * period} intervals) of history, got {values.size}"
        )
    if not np.isfinite(values[:period]).any():
        raise ValueError("Holt-Winters needs an observed rate in the history's first season")
    scale = float(np.nanmax(np.abs(values))) or 1.0
    scaled = [float(value) / scale for value in values]
    start = _initial_state(np.asarray(scaled), period)

    def loss(params: FloatArray | tuple[float, ...]) -> float:
        errors = np.asarray(_run(params, scaled, period, start)[3])
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(np.nanmean(errors**2))
        return value if math.isfinite(value) else DIVERGED

    best_start = min(STARTS, key=loss)
    result = minimize(loss, np.asarray(best_start), method="L-BFGS-B", bounds=BOUNDS)
    params = tuple(float(value) for value in result.x) if loss(result.x) <= loss(best_start) else best_start
    level, trend, seasonals, errors = _run(params, scaled, period, start)
    offset = len(scaled) % period
    ordered = seasonals[offset:] + seasonals[:offset]
    residuals = np.asarray(errors[period:], dtype=np.float64) * scale
    alpha, beta, gamma, phi = params
    return HoltWintersFit(
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        phi=phi,
        level=level * scale,
        trend=trend * scale,
        seasonals=tuple(value * scale for value in ordered),
        residuals=tuple(float(value) for value in residuals[np.isfinite(residuals)]),
    )


def holt_winters_forecast(
    history: RateHistory, horizon_steps: int, *, interval_width: float = 0.9, season_s: float = DAY_S
) -> Forecast:
    """Fit Holt-Winters to the history and forecast `horizon_steps` intervals past its end."""
    check_request(history, horizon_steps, interval_width)
    fit = fit_holt_winters(history, season_s=season_s)
    period = len(fit.seasonals)
    steps = np.arange(1, horizon_steps + 1)
    damping = np.cumsum(fit.phi**steps)
    mean = fit.level + damping * fit.trend + np.asarray(fit.seasonals)[(steps - 1) % period]
    lags = np.arange(1, horizon_steps)
    trend_share = fit.phi * (1 - fit.phi**lags) / (1 - fit.phi)
    growth = (fit.alpha + fit.beta * trend_share + fit.gamma * (lags % period == 0)) ** 2
    widen = np.sqrt(1.0 + np.concatenate(([0.0], np.cumsum(growth))))
    low_q, high_q = quantile_band(np.asarray(fit.residuals, dtype=np.float64), interval_width)
    return clipped_forecast(
        ForecastMethod.HOLT_WINTERS, history, mean, mean + low_q * widen, mean + high_q * widen
    )
