import math

import pytest

from agents.performance.forecast import RateHistory
from optiinfra.domain.rates import RateWindow


def same(actual: tuple[float, ...], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == pytest.approx(e)
        for a, e in zip(actual, expected, strict=True)
    )


def test_rate_windows_resample_to_duration_weighted_means_with_nan_gaps() -> None:
    windows = [
        RateWindow(start_s=1800.0, duration_s=600.0, rate_rps=5.0),  # out of order on purpose
        RateWindow(start_s=0.0, duration_s=300.0, rate_rps=10.0),
        RateWindow(start_s=300.0, duration_s=600.0, rate_rps=20.0),
    ]
    history = RateHistory.from_rate_windows(windows, 600.0)
    assert history.start_s == 0.0
    assert history.end_s == 2400.0
    # [0, 600): half at 10, half at 20; [600, 1200): only the covered 300 s at 20; [1200, 1800): nothing.
    assert same(history.values, [15.0, 20.0, math.nan, 5.0])


def test_a_long_window_spreads_over_the_intervals_it_covers() -> None:
    windows = [
        RateWindow(start_s=100.0, duration_s=1500.0, rate_rps=4.0),
        RateWindow(start_s=1600.0, duration_s=300.0, rate_rps=10.0),
    ]
    history = RateHistory.from_rate_windows(windows, 600.0)
    assert history.start_s == 100.0
    assert same(history.values, [4.0, 4.0, (300 * 4.0 + 300 * 10.0) / 600])


def test_points_resample_to_the_mean_of_each_interval() -> None:
    points = [(1000.0, 2.0), (1100.0, 4.0), (1700.0, 9.0), (1750.0, math.nan), (3000.0, 1.0)]
    history = RateHistory.from_points(points, 600.0)
    assert history.start_s == 1000.0
    assert same(history.values, [3.0, 9.0, math.nan, 1.0])


def test_resampling_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rate windows"):
        RateHistory.from_rate_windows([], 600.0)
    with pytest.raises(ValueError, match="no samples"):
        RateHistory.from_points([], 600.0)


@pytest.fixture
def ten() -> RateHistory:
    return RateHistory(start_s=100.0, interval_s=10.0, values=tuple(float(v) for v in range(10)))


def test_head_and_tail_keep_whole_intervals(ten: RateHistory) -> None:
    assert ten.end_s == 200.0
    assert ten.head(30.0) == RateHistory(100.0, 10.0, (0.0, 1.0, 2.0))
    assert ten.head(35.0) == RateHistory(100.0, 10.0, (0.0, 1.0, 2.0))
    assert ten.tail(30.0) == RateHistory(170.0, 10.0, (7.0, 8.0, 9.0))
    assert ten.tail(1e6) == ten
    assert ten.head(0.0).values == ()
    assert ten.head(0.0).end_s == 100.0
    with pytest.raises(ValueError, match="non-negative"):
        ten.tail(-1.0)


def test_split_partitions_by_interval_start(ten: RateHistory) -> None:
    before, after = ten.split(130.0)
    assert before == RateHistory(100.0, 10.0, (0.0, 1.0, 2.0))
    assert after.start_s == 130.0
    assert after.values == tuple(float(v) for v in range(3, 10))
    before, after = ten.split(135.0)  # the interval starting at 130 starts before 135
    assert before.values == (0.0, 1.0, 2.0, 3.0)
    assert after.start_s == 140.0
    before, after = ten.split(0.0)
    assert (before.values, after) == ((), ten)
    before, after = ten.split(500.0)
    assert (before, after.values, after.start_s) == (ten, (), 200.0)


def test_a_history_rejects_impossible_rates() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        RateHistory(0.0, 60.0, (1.0, -2.0))
    with pytest.raises(ValueError, match="non-negative"):
        RateHistory(0.0, 60.0, (math.inf,))
    with pytest.raises(ValueError, match="interval"):
        RateHistory(0.0, 0.0, (1.0,))
    assert RateHistory(0.0, 60.0, (1.0, math.nan)).finite_count == 1
