"""A stand-in for Prophet in tests of what consumes forecasts (see `agents.performance.forecast.standing_in`).

A Prophet fit takes a second or more (and loading Prophet several); an analyzer test is about what the
analyzer does with the forecast it is given. Prophet's own fits are tested in
tests/agents/performance/forecast."""

import dataclasses

from agents.performance.forecast import Forecast, ForecastMethod, RateHistory
from agents.performance.forecast.seasonal_naive import seasonal_naive_forecast


def prophet_stand_in(history: RateHistory, horizon_steps: int, *, interval_width: float) -> Forecast:
    """Seasonal naive's forecast under Prophet's name: it scores exactly as seasonal naive in every backtest,
    so the simpler method wins the tie and the choice is seasonal naive's or Holt-Winters', made in
    milliseconds, with Prophet still backtested and named in the reasoning."""
    made = seasonal_naive_forecast(history, horizon_steps, interval_width=interval_width)
    return dataclasses.replace(made, method=ForecastMethod.PROPHET)
