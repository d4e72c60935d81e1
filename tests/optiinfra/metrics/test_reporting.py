"""The reports' reads on embedded ClickHouse: the replicas a workload's windows name in a span, its
tokens per day from the daily rollup and per hour from the raw windows, all replicas added up."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from optiinfra.metrics.reporting import ReportingMetrics, ReportingMetricsStore
from optiinfra.metrics.store import ChdbRunner
from optiinfra.metrics.windows import WindowStats
from tests.optiinfra.reports.builders import window_stats

# Recent, so the raw windows outlive their TTL (rows past it are dropped as they are inserted).
DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def _window(replica: str, start: datetime, *, workload: str = "chat", prompt: float = 300.0) -> WindowStats:
    return window_stats(replica, start, workload_id=workload, prompt_tokens=prompt)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReportingMetricsStore]:
    opened = ReportingMetricsStore(ChdbRunner(tmp_path / "chdb"), ttl_days=30)
    try:
        yield opened
    finally:
        opened.close()


def test_the_replicas_of_a_workload_are_those_its_windows_name_in_the_span(
    store: ReportingMetricsStore,
) -> None:
    store.write_window_stats(
        [
            _window("i-a", DAY + timedelta(hours=1)),
            _window("i-b", DAY + timedelta(hours=2)),
            _window("i-a", DAY + timedelta(hours=3)),
            _window("i-c", DAY + timedelta(days=1)),  # after the span
            _window("i-z", DAY + timedelta(hours=1), workload="batch"),  # another workload
        ]
    )
    assert store.workload_replicas("acme", "chat", DAY, DAY + timedelta(days=1)) == ["i-a", "i-b"]
    assert store.workload_replicas("acme", "chat", DAY, DAY + timedelta(days=2)) == ["i-a", "i-b", "i-c"]
    assert store.workload_replicas("other", "chat", DAY, DAY + timedelta(days=2)) == []
    store.write_window_stats([window_stats("i-g", DAY + timedelta(hours=1), customer_id="globex")])
    assert store.fleet_replicas(DAY, DAY + timedelta(days=1)) == {
        ("acme", "batch"): ["i-z"],
        ("acme", "chat"): ["i-a", "i-b"],
        ("globex", "chat"): ["i-g"],
    }


async def test_tokens_per_day_add_up_every_replica_from_the_rollup(store: ReportingMetricsStore) -> None:
    store.write_window_stats(
        [_window("i-a", DAY + timedelta(hours=1)), _window("i-b", DAY + timedelta(hours=2))]
    )
    store.write_window_stats(
        [_window("i-a", DAY + timedelta(days=1, hours=5), prompt=1000.0)]
    )  # a second insert
    store.write_window_stats([_window("i-a", DAY + timedelta(hours=1), workload="batch", prompt=7.0)])
    metrics = ReportingMetrics(store)
    first, second = await metrics.daily_tokens("acme", "chat", DAY.date(), (DAY + timedelta(days=2)).date())
    assert (first.day, first.requests, first.prompt_tokens, first.generation_tokens) == (
        DAY.date(),
        4,
        600,
        200,
    )
    assert (first.prefix_queries, first.prefix_hits) == (600, 150)
    assert (second.day, second.prompt_tokens) == ((DAY + timedelta(days=1)).date(), 1000)
    assert await metrics.daily_tokens("acme", "chat", DAY.date(), DAY.date()) == []
    assert await metrics.workload_replicas("acme", "batch", DAY, DAY + timedelta(days=1)) == ["i-a"]


def _timed(replica: str, start: datetime, seconds: float, prompt: float) -> WindowStats:
    made = window_stats(replica, start, prompt_tokens=prompt)
    return made.model_copy(update={"window_end": start + timedelta(seconds=seconds)})


async def test_tokens_per_hour_group_the_raw_windows_by_the_hour_they_end_in(
    store: ReportingMetricsStore,
) -> None:
    hour = DAY + timedelta(hours=10)
    store.write_window_stats(
        [
            # Counting began at 10:40: two replicas, 10-minute windows. The last one ends on 11:00 and
            # counts in the hour it closes.
            _timed("i-a", hour + timedelta(minutes=40), 600, 100.0),
            _timed("i-a", hour + timedelta(minutes=50), 600, 200.0),
            _timed("i-b", hour + timedelta(minutes=45), 600, 400.0),
            # Straddles 11:00: it ends in 11:00's hour, which it spans from the hour's start.
            _timed("i-b", hour + timedelta(minutes=55), 600, 800.0),
            _timed("i-a", hour + timedelta(hours=1), 1800, 1600.0),
            _timed("i-a", hour + timedelta(hours=1), 1800, 1600.0),  # stored twice, counts once
            _window("i-z", hour + timedelta(minutes=40), workload="batch", prompt=7.0),
        ]
    )
    metrics = ReportingMetrics(store)
    ten, eleven = await metrics.hourly_tokens("acme", "chat", DAY, DAY + timedelta(days=1))
    assert (ten.hour, ten.prompt_tokens, ten.generation_tokens, ten.requests) == (hour, 700, 300, 6)
    assert (ten.prefix_queries, ten.prefix_hits) == (700, 175)
    assert ten.counted_seconds == 20 * 60  # 10:40 to 11:00
    assert (eleven.hour, eleven.prompt_tokens) == (hour + timedelta(hours=1), 2400)
    assert eleven.counted_seconds == 30 * 60  # 11:00 to 11:30
    # Whole hours in [start, end): the window ending on 11:00 belongs to 10:00, outside [11:00, ...).
    (only,) = store.hourly_tokens("acme", "chat", hour + timedelta(hours=1), DAY + timedelta(days=1))
    assert only.prompt_tokens == 2400
    assert store.hourly_tokens("acme", "chat", DAY, hour) == []


def test_raw_windows_are_read_from_the_first_whole_day_they_are_kept(store: ReportingMetricsStore) -> None:
    metrics = ReportingMetrics(store)  # raw windows kept 30 days
    now = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
    assert metrics.raw_windows_since(now) == datetime(2026, 3, 2, tzinfo=UTC)
    assert metrics.raw_windows_since(datetime(2026, 3, 31, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
