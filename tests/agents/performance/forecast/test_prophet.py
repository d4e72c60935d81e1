import math

import numpy as np

from agents.performance.forecast import ForecastMethod, forecast, mape
from tests.agents.performance.forecast.synthetic import PER_DAY, history, sine_with_trend


def test_prophet_is_deterministic_and_leaves_the_global_random_state_alone() -> None:
    _, noisy = sine_with_trend(days=4, noise_rps=10.0, seed=4)
    values = list(noisy)
    values[50:60] = [math.nan] * 10  # missing intervals are left out of the fit
    train, held_out = history(values).split(3 * 86400.0)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()  # type: ignore[index]
    first = forecast(ForecastMethod.PROPHET, train, PER_DAY)
    after = np.random.get_state()[1]  # type: ignore[index]
    assert np.array_equal(before, after)
    assert forecast(ForecastMethod.PROPHET, train, PER_DAY) == first
    assert first.method is ForecastMethod.PROPHET
    assert first.start_s == train.end_s
    assert len(first.mean) == PER_DAY
    # Measured 4.7% against a noise floor near 4%: the daily Fourier terms capture a pure sine.
    assert mape(held_out.values, first.mean) < 6.0
