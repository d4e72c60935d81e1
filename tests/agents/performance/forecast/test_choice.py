import numpy as np
import pytest
from pydantic import ValidationError

from agents.performance.forecast import (
    ForecastMethod,
    ForecastSettings,
    RateHistory,
    choose_forecast,
    forecast,
)
from tests.agents.performance.forecast.synthetic import PER_DAY, daily_pattern, history, periodic

BASELINES = ForecastSettings(methods=(ForecastMethod.HOLT_WINTERS, ForecastMethod.SEASONAL_NAIVE))


def test_a_periodic_series_goes_to_seasonal_naive() -> None:
    choice = choose_forecast(periodic(days=4))
    assert choice.method is ForecastMethod.SEASONAL_NAIVE
    assert choice.mape_by_method[ForecastMethod.SEASONAL_NAIVE] == 0.0
    # Holt-Winters also learns the pattern (to float noise); Prophet's 10 Fourier terms cannot.
    assert choice.mape_by_method[ForecastMethod.PROPHET] > 10.0
    assert choice.reason.startswith("seasonal_naive had the lowest MAPE")
    assert choice.forecast.mean == tuple(daily_pattern(3)[:6])


def test_an_exact_tie_goes_to_the_simpler_method() -> None:
    choice = choose_forecast(history([42.0] * (3 * PER_DAY)), BASELINES)
    assert choice.mape_by_method == {ForecastMethod.HOLT_WINTERS: 0.0, ForecastMethod.SEASONAL_NAIVE: 0.0}
    assert choice.method is ForecastMethod.SEASONAL_NAIVE
    assert "tied with holt_winters" in choice.reason


def test_a_level_shift_before_the_backtest_goes_to_holt_winters() -> None:
    values = np.tile(daily_pattern(3), 4)
    values[3 * PER_DAY - 36 :] += 100.0  # the last 6 h of training and the whole held-out day run 100 higher
    choice = choose_forecast(history(values), BASELINES)
    scores = choice.mape_by_method
    assert choice.method is ForecastMethod.HOLT_WINTERS
    assert scores[ForecastMethod.HOLT_WINTERS] < 1.0 < 20.0 < scores[ForecastMethod.SEASONAL_NAIVE]
    assert choice.forecast == forecast(ForecastMethod.HOLT_WINTERS, history(values), 6)


def test_methods_that_need_more_history_are_left_out_with_their_reason() -> None:
    past = periodic(days=2.5)  # 36 h of training before the 24 h backtest
    choice = choose_forecast(past)
    assert choice.method is ForecastMethod.SEASONAL_NAIVE
    assert set(choice.mape_by_method) == {ForecastMethod.SEASONAL_NAIVE}
    assert "under the 48 h" in choice.skipped[ForecastMethod.PROPHET]
    assert "two seasons" in choice.skipped[ForecastMethod.HOLT_WINTERS]
    assert "prophet left out" in choice.reason


def test_prophet_is_tried_once_the_training_history_is_long_enough() -> None:
    settings = ForecastSettings(min_history_s=86400.0, methods=(ForecastMethod.PROPHET,))
    choice = choose_forecast(periodic(days=2.5), settings)
    assert set(choice.mape_by_method) == {ForecastMethod.PROPHET}
    assert choice.method is ForecastMethod.PROPHET


def test_too_short_for_a_backtest_falls_back_to_yesterday() -> None:
    past = periodic(days=1.25)
    choice = choose_forecast(past)
    assert choice.method is ForecastMethod.SEASONAL_NAIVE
    assert choice.mape_by_method == {}
    assert "falls back to seasonal naive, repeating yesterday's rate" in choice.reason
    assert choice.forecast == forecast(ForecastMethod.SEASONAL_NAIVE, past, 6)


def test_under_a_day_falls_back_to_the_last_rate() -> None:
    past = periodic(days=0.5)
    choice = choose_forecast(past, ForecastSettings(horizon_s=1800.0))
    assert choice.mape_by_method == {}
    assert "repeating the last observed rate" in choice.reason
    assert choice.forecast.mean == (past.values[-1],) * 3


def test_a_silent_held_out_day_cannot_be_scored() -> None:
    values = list(np.tile(daily_pattern(1), 2)) + [0.0] * PER_DAY
    choice = choose_forecast(history(values), BASELINES)
    assert choice.mape_by_method == {}
    assert "no positive rate" in choice.reason


def test_the_history_must_be_on_the_settings_grid() -> None:
    past = RateHistory(start_s=0.0, interval_s=300.0, values=(1.0,) * 10)
    with pytest.raises(ValueError, match="resample"):
        choose_forecast(past)


def test_settings_are_validated_and_frozen() -> None:
    settings = ForecastSettings(horizon_s=3000.0, methods=(ForecastMethod.PROPHET, ForecastMethod.PROPHET))
    assert settings.horizon_steps == 5
    assert settings.methods == (ForecastMethod.PROPHET,)
    assert ForecastSettings().methods == tuple(ForecastMethod)
    for bad in ({"interval_width": 1.0}, {"horizon_s": 0.0}, {"methods": ()}, {"backtest_s": float("nan")}):
        with pytest.raises(ValidationError):
            ForecastSettings.model_validate(bad)
    with pytest.raises(ValidationError):
        settings.horizon_s = 10.0  # type: ignore[misc]


def test_when_every_allowed_method_fails_the_baseline_still_forecasts() -> None:
    past = periodic(days=2.5)
    choice = choose_forecast(past, ForecastSettings(methods=(ForecastMethod.HOLT_WINTERS,)))
    assert choice.method is ForecastMethod.SEASONAL_NAIVE
    assert choice.mape_by_method == {}
    assert choice.reason.startswith(
        "No allowed method could be backtested and fitted (holt_winters: backtest failed"
    )
    assert "two seasons" in choice.skipped[ForecastMethod.HOLT_WINTERS]
    assert choice.forecast == forecast(ForecastMethod.SEASONAL_NAIVE, past, 6)
