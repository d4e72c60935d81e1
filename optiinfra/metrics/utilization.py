"""Instance utilization into the metrics store, and out of it for the agents.

The agents read utilization only from the metrics store; the collection pipeline fills it from where
the fleet publishes it (the CloudWatch agent's GPU metrics on EC2)."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import InstanceType, MetricSeries
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.metrics.store import CostSample, MetricsStore, UtilizationSample
from optiinfra.metrics.windows import WindowStats

T = TypeVar("T")


class AsyncMetricsStore:
    """Async, serialized access to a synchronous metrics store: chdb runs one engine per process, so
    every caller in the process (worker activities, the twin, the collector) goes through one lock."""

    def __init__(self, store: MetricsStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    async def read_utilization(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, period_seconds: int
    ) -> list[MetricSeries]:
        ids = list(instance_ids)
        return await self._run(lambda: self._store.read_utilization(ids, start, end, period_seconds))

    async def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        batch = list(rows)
        await self._run(lambda: self._store.write_utilization(batch))

    async def write_cost_samples(self, rows: Sequence[CostSample]) -> None:
        batch = list(rows)
        await self._run(lambda: self._store.write_cost_samples(batch))

    async def read_cost_samples(
        self, instance_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[CostSample]:
        ids = list(instance_ids)
        return await self._run(lambda: self._store.read_cost_samples(ids, start, end))

    async def read_window_stats(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[WindowStats]:
        return await self._run(lambda: self._store.read_window_stats(customer_id, workload_id, start, end))

    async def read_workload_windows(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime, period_seconds: int
    ) -> list[WorkloadWindow]:
        return await self._run(
            lambda: self._store.read_workload_windows(customer_id, workload_id, start, end, period_seconds)
        )

    async def write_window_stats(self, rows: Sequence[WindowStats]) -> None:
        batch = list(rows)
        await self._run(lambda: self._store.write_window_stats(batch))

    async def _run(self, call: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return call()

        return await asyncio.to_thread(locked)


def samples_from_series(
    customer_id: str, series: Sequence[MetricSeries], types_by_instance: dict[str, InstanceType]
) -> list[UtilizationSample]:
    """Per-period rows from per-metric series; GPU memory percent becomes GiB of the instance's GPUs."""
    by_point: dict[tuple[str, datetime], dict[UtilizationMetric, float]] = {}
    for one in series:
        for index, value in enumerate(one.values):
            moment = one.start + timedelta(seconds=index * one.period_seconds)
            by_point.setdefault((one.instance_id, moment), {})[one.metric] = value
    rows: list[UtilizationSample] = []
    for (instance_id, at), values in sorted(by_point.items()):
        known_type = types_by_instance.get(instance_id)
        gpu_total = known_type.gpu_memory_gib if known_type is not None else None
        memory_percent = values.get(UtilizationMetric.GPU_MEMORY_UTILIZATION)
        rows.append(
            UtilizationSample(
                customer_id=customer_id,
                instance_id=instance_id,
                at=at,
                gpu_utilization=_clamp(values.get(UtilizationMetric.GPU_UTILIZATION)),
                gpu_memory_used_gib=(
                    gpu_total * _clamp_required(memory_percent) / 100
                    if gpu_total is not None and memory_percent is not None
                    else None
                ),
                gpu_memory_total_gib=gpu_total,
                cpu_utilization=_clamp(values.get(UtilizationMetric.CPU_UTILIZATION)),
                memory_utilization=_clamp(values.get(UtilizationMetric.MEMORY_UTILIZATION)),
            )
        )
    return rows


async def copy_cloudwatch_utilization(
    *,
    fleet: Ec2Fleet,
    store: AsyncMetricsStore,
    customer_id: str,
    instance_types: dict[str, InstanceType],
    start: datetime,
    end: datetime,
    period_seconds: int,
) -> int:
    """Copy what CloudWatch holds for these instances over [start, end); returns rows written.
    Re-copying a window is harmless: the store deduplicates identical retried batches and readers
    average per period."""
    series = await fleet.read_utilization(list(instance_types), start, end, period_seconds)
    rows = samples_from_series(customer_id, series, instance_types)
    if rows:
        await store.write_utilization(rows)
    return len(rows)


def _clamp(value: float | None) -> float | None:
    return None if value is None else _clamp_required(value)


def _clamp_required(value: float) -> float:
    """Interpolated or noisy readings can stray a hair outside 0-100."""
    return min(100.0, max(0.0, value))
