"""Hourly cost records become a workload's hours: cost, instances, GPUs, and idle GPU cost where a GPU
utilization reading exists."""

from datetime import UTC, datetime, timedelta

import pytest

from optiinfra.domain.enums import PurchaseOption, UtilizationMetric
from optiinfra.domain.fleet import MetricSeries
from optiinfra.metrics.store import CostSample
from optiinfra.reports.costs import gpu_utilization_by_hour, hour_costs, totals, within

H0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
GPUS = {"g5.xlarge": 1, "g5.12xlarge": 4}


def _sample(instance_id: str, hour: datetime, usd: float, instance_type: str = "g5.xlarge") -> CostSample:
    return CostSample(
        customer_id="acme",
        instance_id=instance_id,
        instance_type=instance_type,
        lifecycle=PurchaseOption.ON_DEMAND,
        hour=hour,
        hourly_usd=usd,
    )


def test_each_hour_adds_its_instances_and_their_gpus() -> None:
    samples = [
        _sample("i-1", H0, 1.0),
        _sample("i-2", H0, 5.0, "g5.12xlarge"),
        _sample("i-1", H0 + timedelta(hours=1), 1.0),
    ]
    first, second = hour_costs(samples, GPUS, {})
    assert (first.hour, first.cost_usd, first.instances, first.gpus) == (H0, 6.0, 2, 5)
    assert (second.cost_usd, second.instances, second.gpus) == (1.0, 1, 1)
    assert first.idle_gpu_cost_usd == 0.0 and first.utilization_covered_cost_usd == 0.0


def test_idle_gpu_cost_is_cost_times_the_idle_share_where_utilization_was_read() -> None:
    samples = [_sample("i-1", H0, 2.0), _sample("i-2", H0, 5.0, "g5.12xlarge")]
    (hour,) = hour_costs(samples, GPUS, {("i-1", H0): 25.0})  # i-2 has no reading
    assert hour.idle_gpu_cost_usd == pytest.approx(1.5)  # 2.0 x 75 % idle
    assert hour.idle_gpu_hours == pytest.approx(0.75)
    assert hour.utilization_covered_cost_usd == 2.0


def test_totals_count_measured_hours_and_rates_over_them() -> None:
    hours = hour_costs(
        [_sample("i-1", H0, 1.0), _sample("i-2", H0, 1.0), _sample("i-1", H0 + timedelta(hours=5), 1.0)],
        GPUS,
        {},
    )
    total = totals(hours)
    assert (total.measured_hours, total.cost_usd, total.instance_hours, total.gpu_hours) == (2, 3.0, 3, 3.0)
    assert total.hourly_cost_usd == 1.5 and total.mean_gpus == 1.5
    assert totals([]).hourly_cost_usd is None
    assert [h.hour for h in within(hours, H0 + timedelta(hours=1), H0 + timedelta(hours=6))] == [
        H0 + timedelta(hours=5)
    ]


def test_gpu_utilization_series_become_a_lookup_by_instance_and_hour() -> None:
    series = [
        MetricSeries(
            instance_id="i-1",
            metric=UtilizationMetric.GPU_UTILIZATION,
            start=H0,
            period_seconds=3600,
            values=[10.0, 20.0],
        ),
        MetricSeries(
            instance_id="i-1",
            metric=UtilizationMetric.CPU_UTILIZATION,
            start=H0,
            period_seconds=3600,
            values=[99.0],
        ),
    ]
    assert gpu_utilization_by_hour(series) == {("i-1", H0): 10.0, ("i-1", H0 + timedelta(hours=1)): 20.0}
