"""The reports' reads on embedded ClickHouse: the replicas a workload's windows name in a span, and its
tokens per day from the daily rollup, all replicas added up."""

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
