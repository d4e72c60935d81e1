import math

import numpy as np
import pytest

from agents.performance.forecast import ForecastMethod, RateHistory, coverage, forecast
from agents.performance.forecast.common import DAY_S, WEEK_S
from agents.performance.forecast.seasonal_naive import choose_season_s, seasonal_naive_forecast
from tests.agents.performance.forecast.synthetic import PER_DAY, daily_pattern, history, periodic


def test_a_periodic_series_is_reproduced_exactly_with_a_zero_width_band() -> None:
    past = periodic(days=3)
    result = forecast(ForecastMethod.SEASONAL_NAIVE, past, 2 * PER_DAY)
    expected = tuple(np.tile(daily_pattern(3), 2))
    assert result.method is ForecastMethod.SEASONAL_NAIVE
    assert result.start_s == past.end_s
    assert result.interval_s == past.interval_s
    assert result.mean == expected
    assert result.lower == expected
    assert result.upper == expected


def test_a_missing_interval_repeats_the_season_before_it() -> None:
    values = list(np.tile(daily_pattern(5), 3))
    values[2 * PER_DAY + 7] = math.nan  # yesterday at 01:10 is missing
    result = seasonal_naive_forecast(history(values), PER_DAY, season_s=DAY_S)
    assert result.mean[7] == values[PER_DAY + 7]
    assert result.mean[8] == values[2 * PER_DAY + 8]


def test_under_a_season_of_history_repeats_the_last_observed_rate_with_a_widening_band() -> None:
    past = history([10.0, 12.0, 11.0, 13.0, math.nan])
    result = forecast(ForecastMethod.SEASONAL_NAIVE, past, 4)
    assert result.mean == (13.0,) * 4
    widths = [high - low for low, high in zip(result.lower, result.upper, strict=True)]
    assert widths[0] > 0
    assert widths == sorted(widths)
    assert widths[3] == pytest.approx(2 * widths[0])  # sqrt(4) steps ahead


def test_the_band_holds_about_the_share_of_seasonal_errors_asked_for() -> None:
    rng = np.random.default_rng(11)
    past = history(np.tile(daily_pattern(2), 10) + rng.normal(0.0, 10.0, 10 * PER_DAY))
    train, held_out = past.split(past.time_of(9 * PER_DAY))
    result = forecast(ForecastMethod.SEASONAL_NAIVE, train, PER_DAY, interval_width=0.8)
    inside = coverage(held_out.values, result.lower, result.upper)
    assert 0.7 <= inside <= 0.9  # measured 0.80


def test_a_weekly_cycle_is_chosen_once_two_weeks_show_it() -> None:
    week = np.concatenate([daily_pattern(day) for day in range(7)])
    past = history(np.tile(week, 3))
    assert choose_season_s(past) == WEEK_S
    assert choose_season_s(RateHistory(past.start_s, past.interval_s, past.values[: 13 * PER_DAY])) == DAY_S
    result = forecast(ForecastMethod.SEASONAL_NAIVE, past, 7 * PER_DAY)
    assert result.mean == tuple(week)


def test_a_history_without_any_observed_rate_cannot_be_forecast() -> None:
    with pytest.raises(ValueError, match="no observed rate"):
        forecast(ForecastMethod.SEASONAL_NAIVE, history([math.nan, math.nan]), 3)
