import math

import pytest

from agents.performance.forecast import Forecast, ForecastMethod


@pytest.fixture
def three() -> Forecast:
    return Forecast(
        method=ForecastMethod.SEASONAL_NAIVE,
        start_s=1000.0,
        interval_s=600.0,
        mean=(10.0, 20.0, 30.0),
        lower=(5.0, 15.0, 25.0),
        upper=(12.0, 40.0, 35.0),
    )


def test_peak_takes_every_interval_overlapping_the_half_open_span(three: Forecast) -> None:
    assert three.end_s == 2800.0
    assert three.peak(1000.0, 1600.0) == 12.0
    assert three.peak(1000.0, 1600.0, use_upper=False) == 10.0
    assert three.peak(1599.0, 1601.0) == 40.0
    assert three.peak(1600.0, 2200.0, use_upper=False) == 20.0
    assert three.peak(2200.0, 9999.0) == 35.0
    assert three.peak(0.0, 1000.5) == 12.0
    assert three.peak(0.0, 9999.0, use_upper=False) == 30.0


def test_peak_of_a_span_outside_the_forecast_or_empty_is_an_error(three: Forecast) -> None:
    with pytest.raises(ValueError, match="no forecast interval"):
        three.peak(0.0, 1000.0)
    with pytest.raises(ValueError, match="no forecast interval"):
        three.peak(2800.0, 3000.0)
    with pytest.raises(ValueError, match="empty"):
        three.peak(1200.0, 1200.0)


def test_at_returns_the_interval_holding_the_time(three: Forecast) -> None:
    assert three.at(1000.0) == (10.0, 5.0, 12.0)
    assert three.at(1599.9) == (10.0, 5.0, 12.0)
    assert three.at(1600.0) == (20.0, 15.0, 40.0)
    assert three.at(2799.9) == (30.0, 25.0, 35.0)
    for outside in (999.9, 2800.0, math.nan):
        with pytest.raises(ValueError, match=r"outside|finite"):
            three.at(outside)


@pytest.mark.parametrize(
    ("mean", "lower", "upper"),
    [
        ((10.0,), (5.0,), (9.0,)),
        ((10.0,), (-1.0,), (12.0,)),
        ((math.nan,), (5.0,), (12.0,)),
        ((10.0, 11.0), (5.0,), (12.0,)),
        ((), (), ()),
    ],
)
def test_a_forecast_rejects_inconsistent_numbers(
    mean: tuple[float, ...], lower: tuple[float, ...], upper: tuple[float, ...]
) -> None:
    with pytest.raises(ValueError, match="forecast"):
        Forecast(ForecastMethod.PROPHET, 0.0, 60.0, mean, lower, upper)
