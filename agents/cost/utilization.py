"""Utilization statistics of a workload, read from its per-instance series."""

import math
from collections.abc import Sequence

from pydantic import BaseModel

from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import Instance, WorkloadSnapshot


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0-100) of non-empty `values`."""
    if not values:
        raise ValueError("percentile of an empty series")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class UtilizationProfile(BaseModel):
    """Per-metric p95 (percent) of the busiest instance, and how much history backs it."""

    p95_percent: dict[UtilizationMetric, float]
    covered_hours: float


def profile_instances(snapshot: WorkloadSnapshot, instances: Sequence[Instance]) -> UtilizationProfile | None:
    """The busiest instance's p95 per metric: sizing for the worst replica keeps every replica safe.
    None when some instance lacks a metric, since sizing on partial evidence is a guess."""
    p95: dict[UtilizationMetric, float] = {}
    covered_hours = math.inf
    for metric in UtilizationMetric:
        per_instance: list[float] = []
        for instance in instances:
            series = snapshot.series_for(instance.instance_id, metric)
            if series is None or not series.values:
                return None
            per_instance.append(percentile(series.values, 95))
            covered_hours = min(covered_hours, len(series.values) * series.period_seconds / 3600)
        p95[metric] = max(per_instance)
    return UtilizationProfile(p95_percent=p95, covered_hours=covered_hours)
