"""The twin's replicas publish their host readings to CloudWatch as the CloudWatch agent does on a real
GPU instance (the `nvidia_gpu` and `mem` sections, InstanceId dimension), so the collection pipeline
reads the twin exactly as it reads a real fleet. A replica in an Auto Scaling group also publishes its GPU
utilization under the group's dimension, which an agent aggregating on AutoScalingGroupName does and a
target-tracking policy on the group's average reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from optiinfra.domain.cloudwatch import (
    CPU_UTILIZATION,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    GROUP_DIMENSION,
    MEMORY_UTILIZATION,
    CloudWatchMetric,
)
from optiinfra.metrics.store import UtilizationSample
from optiinfra.metrics.windows import WindowStats
from optiinfra.sim.seed import MAX_DATUMS_PER_PUT, metric_datum

if TYPE_CHECKING:  # boto3-stubs is a development dependency: types only
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

MIB_PER_GIB = 1024.0


def agent_datums(
    sample: UtilizationSample, scaling_group: str | None = None
) -> Iterator[tuple[CloudWatchMetric, MetricDatumTypeDef]]:
    moment, instance_id = sample.at, sample.instance_id
    if scaling_group is not None and sample.gpu_utilization is not None:
        yield (
            GPU_UTILIZATION,
            {
                "MetricName": GPU_UTILIZATION.name,
                "Dimensions": [{"Name": GROUP_DIMENSION, "Value": scaling_group}],
                "Timestamp": moment,
                "Value": sample.gpu_utilization,
                "Unit": "Percent",
            },
        )
    percents = (
        (GPU_UTILIZATION, sample.gpu_utilization),
        (CPU_UTILIZATION, sample.cpu_utilization),
        (MEMORY_UTILIZATION, sample.memory_utilization),
    )
    for metric, value in percents:
        if value is not None:
            yield metric, metric_datum(metric, instance_id, moment, value, "Percent")
    if sample.gpu_memory_used_gib is not None and sample.gpu_memory_total_gib:
        used = sample.gpu_memory_used_gib * MIB_PER_GIB
        total = sample.gpu_memory_total_gib * MIB_PER_GIB
        yield GPU_MEMORY_USED, metric_datum(GPU_MEMORY_USED, instance_id, moment, used, "Megabytes")
        yield GPU_MEMORY_TOTAL, metric_datum(GPU_MEMORY_TOTAL, instance_id, moment, total, "Megabytes")


class CloudWatchAgentSink:
    """A twin sink that publishes utilization to CloudWatch. Window statistics are not CloudWatch's to
    hold: they come from scraping the replicas' /metrics, so the twin runs with `with_window_stats=False`."""

    def __init__(self, cloudwatch: CloudWatchClient) -> None:
        self._cloudwatch = cloudwatch
        self.scaling_groups: Mapping[str, str] = {}
        """Instance id -> the Auto Scaling group it runs in, kept current by whoever follows the cloud."""

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        by_namespace: dict[str, list[MetricDatumTypeDef]] = {}
        for row in rows:
            for metric, datum in agent_datums(row, self.scaling_groups.get(row.instance_id)):
                by_namespace.setdefault(metric.namespace, []).append(datum)
        for namespace, datums in by_namespace.items():
            for first in range(0, len(datums), MAX_DATUMS_PER_PUT):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=datums[first : first + MAX_DATUMS_PER_PUT]
                )

    def write_window_stats(self, rows: Sequence[WindowStats]) -> None:
        raise TypeError("CloudWatch does not hold vLLM window statistics: scrape the replicas' /metrics")
