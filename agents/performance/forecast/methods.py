"""One entry point for every forecasting method, and its score on a held-out stretch of history.

`standing_in` is the seam for tests of what consumes forecasts: within it, one method's fits are made by a
given function instead (a Prophet fit takes a second or more; an analyzer test is about what the analyzer does
with a forecast, not about Prophet). Outside it, which is always in production, every method is its own."""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from agents.performance.forecast.history import GRID_TOLERANCE, RateHistory
from agents.performance.forecast.holt_winters import holt_winters_forecast
from agents.performance.forecast.metrics import mape, mase, wape
from agents.performance.forecast.model import Forecast, ForecastMethod
from agents.performance.forecast.prophet_method import prophet_forecast
from agents.performance.forecast.seasonal_naive import seasonal_naive_forecast


class MethodForecast(Protocol):
    """One method's forecast, called as `forecast` calls each method's own function."""

    def __call__(self, history: RateHistory, horizon_steps: int, *, interval_width: float) -> Forecast: ...


_STAND_INS: dict[ForecastMethod, MethodForecast] = {}


@contextmanager
def standing_in(method: ForecastMethod, function: MethodForecast) -> Iterator[None]:
    """Within the block, `forecast(method, ...)` (and so every backtest and choice) calls `function` instead
    of fitting the method. For tests; blocks do not nest for one method."""
    if method in _STAND_INS:
        raise RuntimeError(f"{method} already has a stand-in")
    _STAND_INS[method] = function
    try:
        yield
    finally:
        del _STAND_INS[method]


def forecast(
    method: ForecastMethod, history: RateHistory, horizon_steps: int, *, interval_width: float = 0.9
) -> Forecast:
    """Fit `method` to the history and forecast `horizon_steps` intervals from its end, with prediction
    intervals of `interval_width`."""
    stand_in = _STAND_INS.get(ForecastMethod(method))
    if stand_in is not None:
        return stand_in(history, horizon_steps, interval_width=interval_width)
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


@dataclass(frozen=True)
class BacktestErrors:
    """How far one method's forecast of a held-out stretch was from it, three ways (MAPE and WAPE in
    percent; MASE against the seasonal naive forecast's in-sample error, None when that is zero)."""

    mape: float | None
    wape: float
    mase: float | None


def backtest_errors(
    method: ForecastMethod, train: RateHistory, held_out: RateHistory, *, interval_width: float = 0.9
) -> BacktestErrors:
    """MAPE, WAPE and MASE of `method` fitted on `train` against `held_out`, the stretch right after it.
    MASE scales by the seasonal naive error of a day where `train` holds two days, else of one step.
    Raises ValueError where the method cannot fit `train` (too short a history for it)."""
    if not held_out.values:
        raise ValueError("nothing held out to score against")
    predicted = forecast(method, train, len(held_out.values), interval_width=interval_width).mean
    actual = held_out.values
    day = round(86_400 / train.interval_s)
    season = day if len(train.values) >= 2 * day else 1
    try:
        scored_mape: float | None = mape(actual, predicted)
    except ValueError:
        scored_mape = None
    try:
        scaled: float | None = mase(actual, predicted, train.values, season)
    except ValueError:
        scaled = None
    return BacktestErrors(mape=scored_mape, wape=wape(actual, predicted), mase=scaled)
