"""How far a forecast was from what happened."""

import math
from collections.abc import Sequence


def _finite_pairs(actual: Sequence[float], predicted: Sequence[float]) -> list[tuple[float, float]]:
    """(actual, predicted) where both are finite; ValueError when the lengths differ."""
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actual values against {len(predicted)} predicted")
    return [
        (real, guess)
        for real, guess in zip(actual, predicted, strict=True)
        if math.isfinite(real) and math.isfinite(guess)
    ]


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent, over the points where the actual rate is positive and
    both numbers are finite."""
    errors = [abs(real - guess) / real for real, guess in _finite_pairs(actual, predicted) if real > 0]
    if not errors:
        raise ValueError("no point with a positive, finite actual and a finite prediction to score")
    return 100.0 * math.fsum(errors) / len(errors)


def coverage(actual: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> float:
    """Share of the finite actual values that fall inside [lower, upper]."""
    if not len(actual) == len(lower) == len(upper):
        raise ValueError("actual, lower and upper must have the same length")
    inside = [
        low <= real <= high
        for real, low, high in zip(actual, lower, upper, strict=True)
        if math.isfinite(real)
    ]
    if not inside:
        raise ValueError("no finite actual value to check")
    return sum(inside) / len(inside)


def wape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Weighted absolute percentage error, in percent: the summed absolute errors over the summed actual
    rates, where both are finite. Unlike MAPE it weighs each point by its traffic, so a quiet night's small
    rates cannot blow it up."""
    pairs = _finite_pairs(actual, predicted)
    total = math.fsum(abs(real) for real, _ in pairs)
    if not pairs or total <= 0:
        raise ValueError("no finite actual traffic to score against")
    return 100.0 * math.fsum(abs(real - guess) for real, guess in pairs) / total


def mase(
    actual: Sequence[float], predicted: Sequence[float], train: Sequence[float], season_steps: int
) -> float:
    """Mean absolute scaled error: the forecast's mean absolute error over that of the seasonal naive
    forecast (the value `season_steps` earlier) in the training data. Below 1 beats repeating the last
    season; it stays finite on quiet stretches, where MAPE does not."""
    pairs = _finite_pairs(actual, predicted)
    if season_steps < 1:
        raise ValueError("the season is at least one step")
    naive = [
        abs(train[index] - train[index - season_steps])
        for index in range(season_steps, len(train))
        if math.isfinite(train[index]) and math.isfinite(train[index - season_steps])
    ]
    scale = math.fsum(naive) / len(naive) if naive else 0.0
    errors = [abs(real - guess) for real, guess in pairs]
    if not errors or scale <= 0:
        raise ValueError("no finite errors, or a training history the seasonal naive forecast fits exactly")
    return (math.fsum(errors) / len(errors)) / scale
