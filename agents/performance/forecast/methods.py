"""One entry point for every forecasting method, and its score on a held-out stretch of history."""

import math

from agents.performance.forecast.history import GRID_TOLERANCE, RateHistory
from agents.performance.forecast.holt_winters import holt_winters_forecast
from agents.performance.forecast.metrics import mape
from agents.performance.forecast.model import Forecast, ForecastMethod
from agents.performance.forecast.prophet_method import prophet_forecast
from agents.performance.forecast.seasonal_naive import seasonal_naive_forecast


def forecast(
    method: ForecastMethod, history: RateHistory, horizon_steps: int, *, interval_width: float = 0.9
) -> Forecast:
    """Fit `method` to the history and forecast `horizon_steps` intervals from its end, with prediction
    intervals of `interval_width`."""
    match ForecastMethod(method):
        case ForecastMethod.PROPHET:
            return prophet_forecast(history, horizon_steps, interval_width=interval_width)
        case ForecastMethod.SEASONAL_NAIVE:
            return seasonal_naive_forecast(history, horizon_steps, interval_width=interval_width)
        case ForecastMethod.HOLT_WINTERS:
            return holt_winters_forecast(history, horizon_steps, interval_width=interval_width)


def backtest_mape(
    method: ForecastMethod, train: RateHistory, held_out: RateHistory, *, interval_width: float = 0.9
) -> float:
    """MAPE (percent) of `method` fitted on `train` against `held_out`, the stretch right after it."""
    if not math.isclose(train.interval_s, held_out.interval_s, rel_tol=GRID_TOLERANCE):
        raise ValueError(
            f"train and held-out intervals differ: {train.interval_s} s, {held_out.interval_s} s"
        )
    if abs(held_out.start_s - train.end_s) > GRID_TOLERANCE * train.interval_s:
        raise ValueError(
            f"held-out data starts at {held_out.start_s}, not where training ends ({train.end_s})"
        )
    if not held_out.values:
        raise ValueError("nothing held out to score against")
    predicted = forecast(method, train, len(held_out.values), interval_width=interval_width)
    return mape(held_out.values, predicted.mean)
