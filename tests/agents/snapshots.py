"""Builders of workload snapshots for analyzer tests, priced from the real bundled catalog."""

import math
from datetime import UTC, datetime, timedelta

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import OperatingMode, PurchaseOption, UtilizationMetric
from optiinfra.domain.fleet import (
    AutomationPolicy,
    Customer,
    Instance,
    MetricSeries,
    Workload,
    WorkloadSnapshot,
)

REGION = "us-east-1"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def daily_cycle(peak: float, trough: float, hours: int = 14 * 24) -> list[float]:
    """Hourly values swinging between trough and peak once a day."""
    mid, amplitude = (peak + trough) / 2, (peak - trough) / 2
    return [mid + amplitude * math.sin(2 * math.pi * h / 24) for h in range(hours)]


def snapshot(
    *,
    instance_type: str,
    count: int,
    gpu: float,
    gpu_memory: float,
    cpu: float = 20.0,
    memory: float = 20.0,
    lifecycle: PurchaseOption = PurchaseOption.ON_DEMAND,
    stateless: bool = True,
    critical: bool = False,
    hours: int = 14 * 24,
) -> WorkloadSnapshot:
    """A workload of `count` identical replicas whose metrics peak at the given percentages."""
    catalog = PriceCatalog.load_default()
    instances = [
        Instance(
            instance_id=f"i-{n:017x}",
            instance_type=instance_type,
            lifecycle=lifecycle,
            state="running",
            image_id="ami-12345678",
            subnet_id="subnet-0a",
            availability_zone=f"{REGION}a",
        )
        for n in range(1, count + 1)
    ]
    peaks = {
        UtilizationMetric.GPU_UTILIZATION: gpu,
        UtilizationMetric.GPU_MEMORY_UTILIZATION: gpu_memory,
        UtilizationMetric.CPU_UTILIZATION: cpu,
        UtilizationMetric.MEMORY_UTILIZATION: memory,
    }
    series = [
        MetricSeries(
            instance_id=i.instance_id,
            metric=metric,
            start=NOW - timedelta(hours=hours),
            period_seconds=3600,
            values=daily_cycle(peak, peak * 0.4, hours),
        )
        for i in instances
        for metric, peak in peaks.items()
    ]
    return WorkloadSnapshot(
        customer=Customer(
            customer_id="acme",
            name="Acme",
            automation=AutomationPolicy(operating_mode=OperatingMode.SEMI_AUTONOMOUS),
        ),
        workload=Workload(
            customer_id="acme",
            workload_id="chat",
            name="chat",
            model_name="llama-3.1-8b",
            region=REGION,
            stateless=stateless,
            critical=critical,
        ),
        instances=instances,
        instance_types={instance_type: catalog.get(instance_type, REGION)},
        candidate_types=catalog.types_in(REGION),
        series=series,
        collected_at=NOW,
    )
