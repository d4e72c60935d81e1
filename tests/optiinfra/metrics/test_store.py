"""The metrics store on embedded ClickHouse (chdb): rows come back as written, the daily rollup adds up
like Python does, the schema has its partitions and TTLs, and utilization reads back evenly spaced.

The server implementation is exercised through clickhouse-connect's own chdb interface (same client
class surface, in-process engine), plus a recording client that shows it sends the shared DDL. It has
not been run against a ClickHouse server here. chdb opens one engine path per process, so every store
here is closed before the next one opens."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from optiinfra.domain.enums import PurchaseOption, UtilizationMetric
from optiinfra.metrics import ddl
from optiinfra.metrics.store import (
    ChdbMetricsStore,
    ClickHouseMetricsStore,
    CostSample,
    UtilizationSample,
)
from optiinfra.metrics.windows import WindowStats

# Recent enough to outlive the 30-day TTL used here (TTL drops expired rows as they are inserted).
DAY = (datetime.now(UTC) - timedelta(days=2)).date()
NOON = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC)


def _window(rng: random.Random, replica: str, start: datetime, *, workload: str = "chat") -> WindowStats:
    requests = float(rng.choice([0, rng.randint(1, 900)]))
    measured = requests > 0

    def latency(low: float, high: float) -> float | None:
        return rng.uniform(low, high) if measured else None

    return WindowStats(
        customer_id="acme",
        workload_id=workload,
        replica=replica,
        model_name="meta-llama/Llama-3.1-8B-Instruct",
        window_start=start,
        window_end=start + timedelta(seconds=60),
        counter_reset=rng.random() < 0.1,
        requests=requests,
        prompt_tokens=requests * 300,
        generation_tokens=requests * 120,
        preemptions=float(rng.randint(0, 3)),
        prefix_queries=requests * 300,
        prefix_hits=requests * 75,
        errors=float(rng.randint(0, 2)) if measured else 0.0,
        aborts=0.0,
        request_rate=requests / 60,
        prompt_tps=requests * 5,
        generation_tps=requests * 2,
        preemption_rate=0.0,
        prefix_hit_rate=0.25 if measured else None,
        error_rate=0.0 if measured else None,
        ttft_mean=latency(0.05, 0.3),
        ttft_p50=latency(0.05, 0.3),
        ttft_p90=latency(0.3, 0.6),
        ttft_p95=latency(0.3, 0.9),
        ttft_p99=latency(0.9, 2.0),
        itl_mean=latency(0.01, 0.03),
        itl_p50=latency(0.01, 0.03),
        itl_p90=latency(0.03, 0.05),
        itl_p95=latency(0.03, 0.06),
        itl_p99=latency(0.06, 0.1),
        e2e_mean=latency(1, 5),
        e2e_p50=latency(1, 5),
        e2e_p95=latency(5, 10),
        e2e_p99=latency(10, 20),
        queue_mean=latency(0, 0.1),
        queue_p50=latency(0, 0.1),
        queue_p95=latency(0.1, 0.5),
        queue_p99=latency(0.5, 1),
        running=float(rng.randint(0, 64)),
        waiting=float(rng.randint(0, 8)),
        kv_usage=rng.random(),
    )


def _day_of_windows(seed: int = 1) -> list[WindowStats]:
    rng = random.Random(seed)
    rows = [
        _window(rng, f"10.0.0.{replica}:8000", NOON + timedelta(minutes=minute))
        for replica in range(3)
        for minute in range(0, 40)
    ]
    rows.append(_window(rng, "10.0.0.9:8000", NOON + timedelta(days=1)))  # the next day
    rows.append(_window(rng, "10.0.0.0:8000", NOON, workload="batch"))  # another workload
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChdbMetricsStore]:
    with ChdbMetricsStore(tmp_path / "chdb", ttl_days=30, batch_size=7) as opened:
        yield opened


def _key(row: WindowStats) -> tuple[str, datetime]:
    return row.replica, row.window_start


def test_window_stats_read_back_as_written(store: ChdbMetricsStore) -> None:
    rows = _day_of_windows()
    store.write_window_stats(rows)
    expected = sorted((r for r in rows if r.workload_id == "chat" and r.window_start.date() == DAY), key=_key)
    read = store.read_window_stats("acme", "chat", NOON, NOON + timedelta(hours=12))
    assert read == expected
    assert read[0].window_start.tzinfo is not None
    assert store.read_window_stats("acme", "chat", NOON, NOON + timedelta(minutes=5)) == [
        r for r in expected if r.window_start < NOON + timedelta(minutes=5)
    ]
    assert store.read_window_stats("other", "chat", NOON, NOON + timedelta(days=2)) == []


def _python_rollup(rows: list[WindowStats]) -> dict[str, Any]:
    day_rows = [r for r in rows if r.workload_id == "chat" and r.window_start.date() == DAY]
    expected: dict[str, Any] = {"windows": len(day_rows)}
    for name in ddl.SUMMED_DAILY:
        expected[name] = sum(getattr(r, name) for r in day_rows)
    for name in ddl.AVERAGED_DAILY:
        values = [getattr(r, name) for r in day_rows if getattr(r, name) is not None]
        expected[f"{name}_mean"] = sum(values) / len(values)
        expected[f"{name}_max"] = max(values)
    expected["kv_usage_mean"] = sum(r.kv_usage for r in day_rows) / len(day_rows)
    expected["kv_usage_max"] = max(r.kv_usage for r in day_rows)
    expected["window_seconds"] = 60.0 * len(day_rows)
    return expected


def test_the_daily_rollup_equals_the_sums_and_means_computed_in_python(store: ChdbMetricsStore) -> None:
    rows = _day_of_windows()
    store.write_window_stats(rows[:50])  # several inserts: the view's partial rows must add up
    store.write_window_stats(rows[50:])
    rollup = store.daily_rollup("acme", "chat", DAY)
    assert rollup is not None
    assert rollup.model_dump(exclude={"customer_id", "workload_id", "day"}) == pytest.approx(
        _python_rollup(rows)
    )
    assert rollup.prefix_hit_rate == pytest.approx(0.25)
    assert store.daily_rollup("acme", "chat", DAY - timedelta(days=1)) is None


def test_a_retried_batch_is_stored_once_and_counted_once(store: ChdbMetricsStore) -> None:
    rows = _day_of_windows()[:6]
    store.write_window_stats(rows)
    store.write_window_stats(rows)  # an activity retry after a lost acknowledgement
    assert len(store.read_window_stats("acme", "chat", NOON, NOON + timedelta(days=1))) == 6
    rollup = store.daily_rollup("acme", "chat", DAY)
    assert rollup is not None
    assert rollup.windows == 6


def test_the_schema_has_partitions_ttls_and_the_rollup_view(store: ChdbMetricsStore) -> None:
    window_table = store.table_definition(ddl.WINDOW_STATS)
    assert "ENGINE = MergeTree" in window_table
    assert "PARTITION BY toYYYYMM(window_start)" in window_table
    assert "ORDER BY (customer_id, workload_id, replica, window_start)" in window_table
    assert "TTL toDateTime(window_start) + toIntervalDay(30)" in window_table
    daily = store.table_definition(ddl.WINDOW_STATS_DAILY)
    assert "ENGINE = AggregatingMergeTree" in daily
    assert "TTL day + toIntervalDay(730)" in daily
    assert f"TO {ddl.WINDOW_STATS_DAILY}" in store.table_definition(ddl.WINDOW_STATS_DAILY_VIEW)
    assert "PARTITION BY toYYYYMM(at)" in store.table_definition(ddl.INSTANCE_UTILIZATION)
    assert "ReplacingMergeTree" in store.table_definition(ddl.COST_SAMPLES)
    with pytest.raises(ValueError, match="not a table"):
        store.table_definition("system.users")


def test_rows_older_than_the_ttl_are_dropped(store: ChdbMetricsStore) -> None:
    old = _window(random.Random(3), "r", NOON - timedelta(days=45))
    store.write_window_stats([old])
    assert store.read_window_stats("acme", "chat", NOON - timedelta(days=60), NOON) == []


def test_utilization_reads_back_as_evenly_spaced_percent_series(store: ChdbMetricsStore) -> None:
    start = NOON
    samples = [
        UtilizationSample(
            customer_id="acme",
            instance_id=instance,
            at=start + timedelta(minutes=minute),
            gpu_utilization=None if instance == "i-cpu" else float(minute % 100),
            gpu_memory_used_gib=None if instance == "i-cpu" else 12.0,
            gpu_memory_total_gib=None if instance == "i-cpu" else 48.0,
            cpu_utilization=10.0 + minute / 10,
            memory_utilization=50.0,
        )
        for instance in ("i-gpu", "i-cpu")
        for minute in range(0, 120)
        if not 30 <= minute < 45  # a quarter hour without data
    ]
    store.write_utilization(samples)
    series = store.read_utilization(
        ["i-gpu", "i-cpu", "i-'); DROP TABLE x; --"], start, start + timedelta(hours=2), 300
    )
    assert {(s.instance_id, s.metric) for s in series} == {
        ("i-cpu", UtilizationMetric.CPU_UTILIZATION),
        ("i-cpu", UtilizationMetric.MEMORY_UTILIZATION),
        ("i-gpu", UtilizationMetric.CPU_UTILIZATION),
        ("i-gpu", UtilizationMetric.MEMORY_UTILIZATION),
        ("i-gpu", UtilizationMetric.GPU_UTILIZATION),
        ("i-gpu", UtilizationMetric.GPU_MEMORY_UTILIZATION),
    }
    for s in series:
        assert s.start == start
        assert s.period_seconds == 300
        assert len(s.values) == 24
    gpu = next(
        s for s in series if s.instance_id == "i-gpu" and s.metric == UtilizationMetric.GPU_UTILIZATION
    )
    assert gpu.values[0] == pytest.approx(2.0)  # minutes 0..4
    assert gpu.values[5] == pytest.approx(27.0)
    assert gpu.values[6:9] == pytest.approx([32.0, 37.0, 42.0])  # the gap, interpolated
    assert gpu.values[9] == pytest.approx(47.0)
    memory = next(s for s in series if s.metric == UtilizationMetric.GPU_MEMORY_UTILIZATION)
    assert set(memory.values) == {25.0}
    assert store.read_utilization([], start, start + timedelta(hours=1), 300) == []


def test_cost_samples_keep_the_latest_price_of_an_hour(store: ChdbMetricsStore) -> None:
    hour = NOON.replace(minute=0)
    first = CostSample(
        customer_id="acme",
        instance_id="i-1",
        instance_type="g5.2xlarge",
        lifecycle=PurchaseOption.SPOT,
        hour=hour,
        hourly_usd=0.52,
    )
    store.write_cost_samples([first, first.model_copy(update={"hour": hour + timedelta(hours=1)})])
    store.write_cost_samples([first.model_copy(update={"hourly_usd": 0.61})])
    read = store.read_cost_samples(["i-1"], hour, hour + timedelta(hours=2))
    assert [(c.hour, c.hourly_usd) for c in read] == [(hour, 0.61), (hour + timedelta(hours=1), 0.52)]
    assert read[0].lifecycle == PurchaseOption.SPOT


def test_the_server_store_over_clickhouse_connect_gives_the_same_answers(tmp_path: Path) -> None:
    rows = _day_of_windows()
    with ChdbMetricsStore(tmp_path / "embedded", ttl_days=30) as embedded:
        embedded_definition = embedded.table_definition(ddl.WINDOW_STATS)
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "served"))
    with ClickHouseMetricsStore(client, ttl_days=30, batch_size=11) as served:
        assert served.table_definition(ddl.WINDOW_STATS) == embedded_definition
        served.write_window_stats(rows)
        expected = sorted(
            (r for r in rows if r.workload_id == "chat" and r.window_start.date() == DAY), key=_key
        )
        assert served.read_window_stats("acme", "chat", NOON, NOON + timedelta(hours=12)) == expected
        rollup = served.daily_rollup("acme", "chat", DAY)
        assert rollup is not None
        assert rollup.model_dump(exclude={"customer_id", "workload_id", "day"}) == pytest.approx(
            _python_rollup(rows)
        )
        served.write_utilization(
            [UtilizationSample(customer_id="acme", instance_id="i-1", at=NOON, cpu_utilization=40.0)]
        )
        [cpu] = served.read_utilization(["i-1"], NOON, NOON + timedelta(minutes=10), 300)
        assert (cpu.metric, cpu.start, cpu.values) == (UtilizationMetric.CPU_UTILIZATION, NOON, [40.0])


class _RecordingClient:
    """Stands where a clickhouse-connect client would, keeping what the store sends."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.inserts: list[dict[str, Any]] = []

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def insert(self, table: str, data: list[list[Any]], **options: Any) -> None:
        self.inserts.append({"table": table, "rows": len(data), **options})

    def close(self) -> None:
        pass


def test_the_server_store_sends_the_shared_ddl_and_batched_deduplicated_inserts() -> None:
    client = _RecordingClient()
    store = ClickHouseMetricsStore(client, ttl_days=14, rollup_ttl_days=400, batch_size=4)  # type: ignore[arg-type]
    assert client.commands == ddl.schema_statements(ttl_days=14, rollup_ttl_days=400)
    store.write_window_stats(_day_of_windows()[:10])
    assert [i["rows"] for i in client.inserts] == [4, 4, 2]
    first = client.inserts[0]
    assert first["table"] == ddl.WINDOW_STATS
    assert first["column_names"] == [name for name, _ in ddl.WINDOW_STATS_COLUMNS]
    assert first["column_type_names"] == [sql_type for _, sql_type in ddl.WINDOW_STATS_COLUMNS]
    assert first["settings"] == {"deduplicate_blocks_in_dependent_materialized_views": 1}


def test_the_window_stats_table_has_a_column_for_every_field() -> None:
    assert [name for name, _ in ddl.WINDOW_STATS_COLUMNS] == list(WindowStats.model_fields)


@pytest.mark.parametrize("days", [0, -1, 1.5, "30; DROP TABLE x", True])
def test_ttls_must_be_positive_whole_days(days: object) -> None:
    with pytest.raises(ValueError, match="TTL"):
        ddl.schema_statements(ttl_days=days)  # type: ignore[arg-type]


def test_workload_windows_add_replicas_up_per_period_like_python_does(store: ChdbMetricsStore) -> None:
    rows = _day_of_windows()
    store.write_window_stats(rows)
    store.write_window_stats(rows[:5])  # a retried batch must not count twice
    windows = store.read_workload_windows("acme", "chat", NOON, NOON + timedelta(hours=1), 600)
    day_rows = [r for r in rows if r.workload_id == "chat" and r.window_start.date() == DAY]
    assert [w.start for w in windows] == [NOON + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    for window in windows:
        inside = [r for r in day_rows if window.start <= r.window_start < window.end]
        assert window.replicas == 3
        assert window.requests == pytest.approx(sum(r.requests for r in inside))
        assert window.request_rate == pytest.approx(sum(r.requests for r in inside) / 600)
        assert window.errors == pytest.approx(sum(r.errors for r in inside))
        measured = [r.ttft_p95 for r in inside if r.ttft_p95 is not None]
        assert window.ttft_p95 == (pytest.approx(max(measured)) if measured else None)
        timed = [r for r in inside if r.ttft_mean is not None and r.requests > 0]
        weight = sum(r.requests for r in timed)
        expected_mean = sum(r.ttft_mean * r.requests for r in timed) / weight if weight else None  # type: ignore[operator]
        assert window.ttft_mean == (pytest.approx(expected_mean) if expected_mean else None)
        last = {r.replica: r for r in sorted(inside, key=lambda r: r.window_end)}
        assert window.running == pytest.approx(sum(r.running for r in last.values()))
    assert store.read_workload_windows("acme", "nobody", NOON, NOON + timedelta(hours=1), 600) == []
    with pytest.raises(ValueError, match="positive"):
        store.read_workload_windows("acme", "chat", NOON, NOON + timedelta(hours=1), 0)


def test_the_fleets_windows_in_one_read_are_each_workloads_own(store: ChdbMetricsStore) -> None:
    rows = _day_of_windows()
    other_customer = [r.model_copy(update={"customer_id": "globex"}) for r in _day_of_windows(seed=2)[:30]]
    store.write_window_stats([*rows, *other_customer])
    span = (NOON, NOON + timedelta(hours=1), 600)

    fleet = store.read_fleet_windows(*span)

    assert set(fleet) == {("acme", "chat"), ("acme", "batch"), ("globex", "chat")}
    for (customer, workload), windows in fleet.items():
        own = store.read_workload_windows(customer, workload, *span)
        assert [w.start for w in windows] == [w.start for w in own]
        # the same figures, up to the order the engine adds floats in
        figures = [w.model_dump(exclude={"start"}) for w in windows]
        assert figures == [pytest.approx(w.model_dump(exclude={"start"})) for w in own]
    # globex's rows (one replica's first 30 minutes) are not added to acme's chat of the same name
    assert [w.replicas for w in fleet[("globex", "chat")]] == [1, 1, 1]
    assert [w.replicas for w in fleet[("acme", "chat")]] == [3, 3, 3, 3]
    assert store.read_fleet_windows(NOON - timedelta(days=3), NOON - timedelta(days=2), 600) == {}


def test_a_periods_kv_capacity_is_the_smallest_replicas_latest_report(store: ChdbMetricsStore) -> None:
    rng = random.Random(3)

    def reported(replica: str, minute: int, tokens: float | None) -> WindowStats:
        row = _window(rng, replica, NOON + timedelta(minutes=minute))
        return row.model_copy(update={"kv_capacity_tokens": tokens})

    store.write_window_stats(
        [
            reported("a", 0, 90_000.0),
            reported("a", 1, 80_000.0),  # restarted with less memory: the latest report holds
            reported("b", 0, 120_000.0),
            reported("c", 0, None),  # an engine that does not say
        ]
    )
    (window,) = store.read_workload_windows("acme", "chat", NOON, NOON + timedelta(minutes=10), 600)
    assert window.kv_capacity_tokens == 80_000.0
    store.write_window_stats([reported("d", 0, None).model_copy(update={"workload_id": "quiet"})])
    (quiet,) = store.read_workload_windows("acme", "quiet", NOON, NOON + timedelta(minutes=10), 600)
    assert quiet.kv_capacity_tokens is None
