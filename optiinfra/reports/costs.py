"""A workload's measured cost per hour, from the hourly cost records the collection pipeline writes: one
record per running instance and hour, at the catalog price of its type and purchase option. A record is an
instance-hour, as the billing view (`optiinfra.metrics.usage`) counts it; its GPUs are the type's.

Idle GPU cost follows OpenCost's idle idea at the resolution the store has: an instance-hour's cost times
the share of the hour its GPUs were idle, 1 - GPU utilization / 100, where a GPU utilization reading (the
hourly mean the store keeps) exists for that instance and hour. Hours without one are left out of the idle
figure and counted in `utilization_covered_cost_usd`'s complement."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import MetricSeries
from optiinfra.metrics.store import CostSample

HOUR = timedelta(hours=1)
UtilizationByHour = Mapping[tuple[str, datetime], float]
"""GPU utilization in percent by (instance id, hour start)."""


class HourCost(BaseModel):
    """One hour of one workload, all its instances together."""

    model_config = ConfigDict(frozen=True)

    hour: datetime
    cost_usd: float
    instances: int
    gpus: int
    idle_gpu_cost_usd: float = 0.0
    idle_gpu_hours: float = 0.0
    utilization_covered_cost_usd: float = 0.0
    """The part of `cost_usd` whose instances had a GPU utilization reading this hour."""


class CostTotals(BaseModel):
    """Hours added up. `measured_hours` counts hours with at least one record: an hour without any is
    taken as unmeasured, not as free."""

    model_config = ConfigDict(frozen=True)

    measured_hours: int = 0
    cost_usd: float = 0.0
    instance_hours: int = 0
    gpu_hours: float = 0.0
    idle_gpu_cost_usd: float = 0.0
    idle_gpu_hours: float = 0.0
    utilization_covered_cost_usd: float = 0.0

    @property
    def hourly_cost_usd(self) -> float | None:
        return self.cost_usd / self.measured_hours if self.measured_hours else None

    @property
    def mean_gpus(self) -> float | None:
        return self.gpu_hours / self.measured_hours if self.measured_hours else None


def hour_costs(
    samples: Iterable[CostSample], gpus_by_type: Mapping[str, int], utilization: UtilizationByHour
) -> list[HourCost]:
    """Per hour, oldest first. A type missing from `gpus_by_type` counts no GPU (the collector records
    only catalog types, so this does not happen with its records)."""
    by_hour: dict[datetime, list[CostSample]] = {}
    for sample in samples:
        by_hour.setdefault(sample.hour, []).append(sample)
    return [_hour(hour, by_hour[hour], gpus_by_type, utilization) for hour in sorted(by_hour)]


def _hour(
    hour: datetime,
    samples: Sequence[CostSample],
    gpus_by_type: Mapping[str, int],
    utilization: UtilizationByHour,
) -> HourCost:
    idle_cost = idle_gpu_hours = covered = 0.0
    for sample in samples:
        used = utilization.get((sample.instance_id, hour))
        if used is None:
            continue
        idle = 1 - min(100.0, max(0.0, used)) / 100
        idle_cost += sample.hourly_usd * idle
        idle_gpu_hours += gpus_by_type.get(sample.instance_type, 0) * idle
        covered += sample.hourly_usd
    return HourCost(
        hour=hour,
        cost_usd=sum(sample.hourly_usd for sample in samples),
        instances=len(samples),
        gpus=sum(gpus_by_type.get(sample.instance_type, 0) for sample in samples),
        idle_gpu_cost_usd=idle_cost,
        idle_gpu_hours=idle_gpu_hours,
        utilization_covered_cost_usd=covered,
    )


def totals(hours: Iterable[HourCost]) -> CostTotals:
    found = list(hours)
    return CostTotals(
        measured_hours=len(found),
        cost_usd=sum(h.cost_usd for h in found),
        instance_hours=sum(h.instances for h in found),
        gpu_hours=float(sum(h.gpus for h in found)),
        idle_gpu_cost_usd=sum(h.idle_gpu_cost_usd for h in found),
        idle_gpu_hours=sum(h.idle_gpu_hours for h in found),
        utilization_covered_cost_usd=sum(h.utilization_covered_cost_usd for h in found),
    )


def within(hours: Iterable[HourCost], start: datetime, end: datetime) -> list[HourCost]:
    """The hours that start in [start, end)."""
    return [h for h in hours if start <= h.hour < end]


def gpu_utilization_by_hour(series: Iterable[MetricSeries]) -> dict[tuple[str, datetime], float]:
    """The GPU utilization series (hourly, as the store reads them) as a lookup by instance and hour."""
    found: dict[tuple[str, datetime], float] = {}
    for one in series:
        if one.metric is not UtilizationMetric.GPU_UTILIZATION:
            continue
        step = timedelta(seconds=one.period_seconds)
        for index, value in enumerate(one.values):
            found[(one.instance_id, one.start + index * step)] = value
    return found
