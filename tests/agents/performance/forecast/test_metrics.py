import math

import pytest

from agents.performance.forecast import coverage, mape


def test_mape_is_in_percent_over_positive_finite_actuals() -> None:
    actual = [100.0, 200.0, 0.0, 50.0, math.nan]
    predicted = [110.0, 150.0, 5.0, math.nan, 3.0]
    # Only the first two points count: 10% and 25%.
    assert mape(actual, predicted) == pytest.approx(17.5)
    assert mape([4.0], [0.0]) == pytest.approx(100.0)
    assert mape([4.0, 8.0], [4.0, 8.0]) == 0.0


def test_mape_without_a_scorable_point_or_with_mismatched_lengths_is_an_error() -> None:
    with pytest.raises(ValueError, match="no point"):
        mape([0.0, 0.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="against"):
        mape([1.0, 2.0], [1.0])


def test_coverage_counts_finite_actuals_inside_the_bounds() -> None:
    inside = coverage([1.0, 5.0, 10.0, math.nan], [0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0])
    assert inside == pytest.approx(2 / 3)
