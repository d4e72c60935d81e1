"""Nearest-rank percentiles of integer samples (token lengths, block counts)."""

import math
from collections.abc import Sequence


def nearest_rank(ordered: Sequence[int], quantile: float) -> int:
    """The smallest value with at least `quantile` of the data at or below it."""
    if not ordered:
        raise ValueError("no values to take a percentile of")
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]
