"""Utilization read back from CloudWatch is what was seeded, as evenly spaced series."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from optiinfra.cloud.ec2 import gpu_memory_percent
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.series import PeriodGrid, even_series, floor_to_period
from tests.support.cloud import SeededCloud

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def test_every_metric_of_every_instance_comes_back_as_seeded(seeded_cloud: SeededCloud) -> None:
    seeded = seeded_cloud.seeded
    ids = seeded.instance_ids["chat-8b"] + seeded.instance_ids["code-assist"]

    series = await seeded_cloud.fleet.read_utilization(ids, seeded.metrics_start, seeded.metrics_end)

    assert len(series) == len(ids) * len(UtilizationMetric)
    for got in series:
        want = seeded.series_for(got.instance_id, got.metric)
        assert want is not None
        assert (got.start, got.period_seconds) == (want.start, want.period_seconds)
        assert got.values == pytest.approx(want.values, abs=1e-6)


async def test_chat_8b_reads_back_as_a_busy_gpu_on_an_idle_host(seeded_cloud: SeededCloud) -> None:
    ids = seeded_cloud.seeded.instance_ids["chat-8b"]
    now = datetime.now(UTC)

    series = await seeded_cloud.fleet.read_utilization(ids, now - timedelta(days=14), now)

    gpu = [s for s in series if s.metric is UtilizationMetric.GPU_UTILIZATION]
    assert len(gpu) == 3
    assert all(len(s.values) == 14 * 24 for s in gpu)
    assert all(55 <= p95(s.values) <= 75 for s in gpu)
    cpu = [s for s in series if s.metric is UtilizationMetric.CPU_UTILIZATION]
    assert all(p95(s.values) <= 12 for s in cpu)
    memory = [s for s in series if s.metric is UtilizationMetric.GPU_MEMORY_UTILIZATION]
    assert all(65 <= statistics.mean(s.values) <= 80 for s in memory)


async def test_a_shorter_window_and_a_coarser_period(seeded_cloud: SeededCloud) -> None:
    seeded = seeded_cloud.seeded
    instance_id = seeded.instance_ids["code-assist"][0]
    six_hours = 6 * 3600
    end = floor_to_period(seeded.metrics_end, six_hours)
    start = end - timedelta(days=2)

    series = await seeded_cloud.fleet.read_utilization([instance_id], start, end, six_hours)

    cpu = next(s for s in series if s.metric is UtilizationMetric.CPU_UTILIZATION)
    assert (cpu.start, cpu.period_seconds, len(cpu.values)) == (start, six_hours, 8)
    hourly = seeded.series_for(instance_id, UtilizationMetric.CPU_UTILIZATION)
    assert hourly is not None
    last_hour = int((end - hourly.start).total_seconds()) // 3600
    expected = statistics.mean(hourly.values[last_hour - 6 : last_hour])
    assert cpu.values[-1] == pytest.approx(expected, abs=1e-6)


async def test_unknown_instances_and_empty_windows_read_nothing(seeded_cloud: SeededCloud) -> None:
    fleet = seeded_cloud.fleet
    now = datetime.now(UTC)
    assert await fleet.read_utilization(["i-0123456789abcdef0"], now - timedelta(days=1), now) == []
    assert await fleet.read_utilization(seeded_cloud.seeded.all_instance_ids, now, now) == []


def test_the_grid_holds_whole_aligned_periods_that_ended_by_the_end() -> None:
    grid = PeriodGrid.covering(T0 + timedelta(minutes=20), T0 + timedelta(hours=3, minutes=59), 3600)
    assert (grid.start, grid.count) == (T0, 3)
    assert grid.index_of(T0 + timedelta(hours=2, minutes=59)) == 2
    assert grid.index_of(T0 + timedelta(hours=3)) is None
    assert list(PeriodGrid.covering(T0, T0 + timedelta(hours=5), 3600).chunks(2)) == [
        (T0, T0 + timedelta(hours=2)),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=4)),
        (T0 + timedelta(hours=4), T0 + timedelta(hours=5)),
    ]


def test_naive_datetimes_are_taken_as_utc() -> None:
    naive = PeriodGrid.covering(datetime(2025, 1, 1), datetime(2025, 1, 2), 3600)
    assert naive == PeriodGrid.covering(T0, T0 + timedelta(days=1), 3600)


@pytest.mark.parametrize("period", [0, -60, 90])
def test_periods_must_be_whole_minutes(period: int) -> None:
    with pytest.raises(ValueError, match="multiple of 60"):
        PeriodGrid.covering(T0, T0 + timedelta(days=1), period)


def test_gaps_inside_a_series_are_interpolated_and_its_ragged_ends_trimmed() -> None:
    grid = PeriodGrid(T0, 3600, 10)

    series = even_series("i-1", UtilizationMetric.CPU_UTILIZATION, grid, {2: 10.0, 5: 40.0, 6: 20.0})

    assert series is not None
    assert series.start == T0 + timedelta(hours=2)
    assert series.values == pytest.approx([10.0, 20.0, 30.0, 40.0, 20.0])
    assert even_series("i-1", UtilizationMetric.CPU_UTILIZATION, grid, {}) is None


def test_gpu_memory_is_used_over_total_where_both_are_known() -> None:
    assert gpu_memory_percent({0: 2.0, 1: 3.0, 2: 1.0}, {0: 8.0, 1: 0.0}) == {0: 25.0}
