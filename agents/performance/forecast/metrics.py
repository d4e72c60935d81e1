"""How far a forecast was from what happened."""

import math
from collections.abc import Sequence


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent, over the points where the actual rate is positive and
    both numbers are finite."""
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actual values against {len(predicted)} predicted")
    errors = [
        abs(real - guess) / real
        for real, guess in zip(actual, predicted, strict=True)
        if math.isfinite(real) and math.isfinite(guess) and real > 0
    ]
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
