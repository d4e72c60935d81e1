"""Request-rate forecasting for the Performance agent: Prophet, seasonal naive and Holt-Winters forecasts of a
workload's rate with prediction intervals, and the choice among them by backtest error."""

from agents.performance.forecast.choice import ForecastChoice, ForecastSettings, choose_forecast
from agents.performance.forecast.history import RateHistory
from agents.performance.forecast.methods import (
    BacktestErrors,
    MethodForecast,
    backtest_errors,
    backtest_mape,
    forecast,
    standing_in,
)
from agents.performance.forecast.metrics import coverage, mape, mase, wape
from agents.performance.forecast.model import Forecast, ForecastMethod

__all__ = [
    "BacktestErrors",
    "Forecast",
    "ForecastChoice",
    "ForecastMethod",
    "ForecastSettings",
    "MethodForecast",
    "RateHistory",
    "backtest_errors",
    "backtest_mape",
    "choose_forecast",
    "coverage",
    "forecast",
    "mape",
    "mase",
    "standing_in",
    "wape",
]
