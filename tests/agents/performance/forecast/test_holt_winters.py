import math

import numpy as np
import pytest

from agents.performance.forecast import ForecastMethod, coverage, forecast, mape
from agents.performance.forecast.holt_winters import fit_holt_winters
from tests.agents.performance.forecast.synthetic import PER_DAY, history, sine_with_trend

NOISE_FLOOR_PCT = 3.8
"""MAPE of the noiseless signal itself against the noisy held-out days (3.7-4.3% over seeds 0-4): no
forecast does much better."""
MAPE_BOUND_PCT = 6.0
"""Measured 4.2-5.0% over seeds 0-4 (train 6 days, forecast 2): the noise floor plus the damped trend's
lag."""


@pytest.mark.parametrize("seed", [0, 3])
def test_a_daily_sine_with_trend_is_forecast_close_to_the_noise_floor(seed: int) -> None:
    signal, noisy = sine_with_trend(days=8, noise_rps=10.0, seed=seed)
    train, held_out = history(noisy).split(6 * 86400.0)
    result = forecast(ForecastMethod.HOLT_WINTERS, train, 2 * PER_DAY)
    floor = mape(held_out.values, list(signal[6 * PER_DAY :]))
    assert floor == pytest.approx(NOISE_FLOOR_PCT, abs=0.5)
    assert mape(held_out.values, result.mean) < MAPE_BOUND_PCT
    # A 90% band: measured 0.91-0.95 over seeds 0-4.
    assert coverage(held_out.values, result.lower, result.upper) >= 0.8


def test_the_fit_is_deterministic_and_tolerates_missing_intervals() -> None:
    _, noisy = sine_with_trend(days=8, noise_rps=10.0, seed=1)
    values = list(noisy)
    for index in range(100, 6 * PER_DAY, 37):
        values[index] = math.nan
    train, held_out = history(values).split(6 * 86400.0)
    first = forecast(ForecastMethod.HOLT_WINTERS, train, 2 * PER_DAY)
    assert forecast(ForecastMethod.HOLT_WINTERS, train, 2 * PER_DAY) == first
    assert mape(held_out.values, first.mean) < MAPE_BOUND_PCT


def test_the_fitted_parameters_stay_in_bounds_and_the_band_widens_with_the_horizon() -> None:
    _, noisy = sine_with_trend(days=7, noise_rps=10.0, seed=2)
    past = history(noisy)
    fit = fit_holt_winters(past)
    assert all(0.0 <= value <= 1.0 for value in (fit.alpha, fit.beta, fit.gamma))
    assert 0.8 <= fit.phi <= 0.98
    assert len(fit.seasonals) == PER_DAY
    result = forecast(ForecastMethod.HOLT_WINTERS, past, PER_DAY)
    widths = np.subtract(result.upper, result.lower)
    assert widths[-1] > widths[0] > 0


def test_under_two_seasons_of_history_is_an_error() -> None:
    _, noisy = sine_with_trend(days=2, noise_rps=1.0, seed=0)
    with pytest.raises(ValueError, match="two seasons"):
        forecast(ForecastMethod.HOLT_WINTERS, history(noisy[: 2 * PER_DAY - 1]), 6)
