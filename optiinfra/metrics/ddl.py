"""The ClickHouse schema of the metrics store, shared by the embedded (chdb) and server implementations.

Checked by experiment on chdb 4.4 (ClickHouse engine 26.9): MergeTree with PARTITION BY and TTL,
a materialized view into an AggregatingMergeTree of SimpleAggregateFunction columns, and insert
deduplication on plain MergeTree (`non_replicated_deduplication_window`) that also keeps the view's
table from counting a retried batch twice when inserts set
`deduplicate_blocks_in_dependent_materialized_views = 1`. TTL drops expired rows at insert and merge
time, so old test data disappears from a short-TTL table at once.

The daily rollup keeps sums and counts rather than averages, so adding partial rows (before ClickHouse
merges them) gives the same answer: averages are taken at read time. A window counts towards the day
it starts in.
"""

DATABASE = "optiinfra"
WINDOW_STATS = f"{DATABASE}.vllm_window_stats"
WINDOW_STATS_DAILY = f"{DATABASE}.vllm_window_stats_daily"
WINDOW_STATS_DAILY_VIEW = f"{DATABASE}.vllm_window_stats_daily_mv"
INSTANCE_UTILIZATION = f"{DATABASE}.instance_utilization"
COST_SAMPLES = f"{DATABASE}.cost_samples"
TABLES = frozenset(
    {WINDOW_STATS, WINDOW_STATS_DAILY, WINDOW_STATS_DAILY_VIEW, INSTANCE_UTILIZATION, COST_SAMPLES}
)

DEFAULT_TTL_DAYS = 90
DEFAULT_ROLLUP_TTL_DAYS = 730
DEDUPLICATION_WINDOW = 1000
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}

WINDOW_STATS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "LowCardinality(String)"),
    ("workload_id", "LowCardinality(String)"),
    ("replica", "String"),
    ("model_name", "LowCardinality(String)"),
    ("window_start", "DateTime64(6, 'UTC')"),
    ("window_end", "DateTime64(6, 'UTC')"),
    ("counter_reset", "Bool"),
    *((name, "Float64") for name in ("requests", "prompt_tokens", "generation_tokens", "preemptions")),
    *((name, "Float64") for name in ("prefix_queries", "prefix_hits", "errors", "aborts")),
    *((name, "Float64") for name in ("request_rate", "prompt_tps", "generation_tps", "preemption_rate")),
    ("prefix_hit_rate", "Nullable(Float64)"),
    ("error_rate", "Nullable(Float64)"),
    *((f"ttft_{stat}", "Nullable(Float64)") for stat in ("mean", "p50", "p90", "p95", "p99")),
    *((f"itl_{stat}", "Nullable(Float64)") for stat in ("mean", "p50", "p90", "p95", "p99")),
    *((f"e2e_{stat}", "Nullable(Float64)") for stat in ("mean", "p50", "p95", "p99")),
    *((f"queue_{stat}", "Nullable(Float64)") for stat in ("mean", "p50", "p95", "p99")),
    ("running", "Float64"),
    ("waiting", "Float64"),
    ("kv_usage", "Float64"),
    *((f"prompt_len_{stat}", "Nullable(Float64)") for stat in ("p95", "p99")),
    ("kv_capacity_tokens", "Nullable(Float64)"),
)
ADDED_WINDOW_COLUMNS = ("prompt_len_p95", "prompt_len_p99", "kv_capacity_tokens")
"""Columns added after the table was first created: stores made before them gain them at start-up."""

UTILIZATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "LowCardinality(String)"),
    ("instance_id", "String"),
    ("at", "DateTime64(6, 'UTC')"),
    ("gpu_utilization", "Nullable(Float64)"),
    ("gpu_memory_used_gib", "Nullable(Float64)"),
    ("gpu_memory_total_gib", "Nullable(Float64)"),
    ("cpu_utilization", "Nullable(Float64)"),
    ("memory_utilization", "Nullable(Float64)"),
)

COST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "LowCardinality(String)"),
    ("instance_id", "String"),
    ("instance_type", "LowCardinality(String)"),
    ("lifecycle", "LowCardinality(String)"),
    ("hour", "DateTime('UTC')"),
    ("hourly_usd", "Float64"),
)

SUMMED_DAILY = (
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "preemptions",
    "prefix_queries",
    "prefix_hits",
    "errors",
    "aborts",
)
AVERAGED_DAILY = ("ttft_p95", "itl_p95", "e2e_p95", "queue_p95")


def _columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ",\n    ".join(f"{name} {sql_type}" for name, sql_type in columns)


def _daily_columns() -> str:
    lines = [
        "customer_id LowCardinality(String)",
        "workload_id LowCardinality(String)",
        "day Date",
        "windows SimpleAggregateFunction(sum, UInt64)",
        "window_seconds SimpleAggregateFunction(sum, Float64)",
        *(f"{name} SimpleAggregateFunction(sum, Float64)" for name in SUMMED_DAILY),
    ]
    for name in AVERAGED_DAILY:
        lines += [
            f"{name}_sum SimpleAggregateFunction(sum, Float64)",
            f"{name}_windows SimpleAggregateFunction(sum, UInt64)",
            f"{name}_max SimpleAggregateFunction(max, Nullable(Float64))",
        ]
    lines += [
        "kv_usage_sum SimpleAggregateFunction(sum, Float64)",
        "kv_usage_max SimpleAggregateFunction(max, Float64)",
    ]
    return ",\n    ".join(lines)


def _daily_select() -> str:
    parts = [
        "customer_id",
        "workload_id",
        "toDate(window_start) AS day",
        "count() AS windows",
        "sum(toFloat64(dateDiff('millisecond', window_start, window_end))) / 1000 AS window_seconds",
        *(f"sum({name}) AS {name}" for name in SUMMED_DAILY),
    ]
    for name in AVERAGED_DAILY:
        parts += [
            f"sum(ifNull({name}, 0)) AS {name}_sum",
            f"count({name}) AS {name}_windows",
            f"max({name}) AS {name}_max",
        ]
    parts += ["sum(kv_usage) AS kv_usage_sum", "max(kv_usage) AS kv_usage_max"]
    return ",\n    ".join(parts)


def schema_statements(
    *, ttl_days: int = DEFAULT_TTL_DAYS, rollup_ttl_days: int = DEFAULT_ROLLUP_TTL_DAYS
) -> list[str]:
    """CREATE statements, idempotent (IF NOT EXISTS), in dependency order."""
    ttl = _positive_days(ttl_days)
    rollup_ttl = _positive_days(rollup_ttl_days)
    dedup = f"SETTINGS non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}"
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
        f"""CREATE TABLE IF NOT EXISTS {WINDOW_STATS} (
    {_columns(WINDOW_STATS_COLUMNS)}
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (customer_id, workload_id, replica, window_start)
TTL toDateTime(window_start) + INTERVAL {ttl} DAY
{dedup}""",
        *(
            f"ALTER TABLE {WINDOW_STATS} ADD COLUMN IF NOT EXISTS {name} Nullable(Float64)"
            for name in ADDED_WINDOW_COLUMNS
        ),
        f"""CREATE TABLE IF NOT EXISTS {WINDOW_STATS_DAILY} (
    {_daily_columns()}
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (customer_id, workload_id, day)
TTL day + INTERVAL {rollup_ttl} DAY
{dedup}""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {WINDOW_STATS_DAILY_VIEW} TO {WINDOW_STATS_DAILY} AS
SELECT
    {_daily_select()}
FROM {WINDOW_STATS}
GROUP BY customer_id, workload_id, day""",
        f"""CREATE TABLE IF NOT EXISTS {INSTANCE_UTILIZATION} (
    {_columns(UTILIZATION_COLUMNS)}
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (instance_id, at)
TTL toDateTime(at) + INTERVAL {ttl} DAY
{dedup}""",
        f"""CREATE TABLE IF NOT EXISTS {COST_SAMPLES} (
    {_columns(COST_COLUMNS)}
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, instance_id, hour)
TTL hour + INTERVAL {rollup_ttl} DAY""",
    ]


def _positive_days(days: int) -> int:
    """TTLs are interpolated into DDL (ClickHouse cannot bind them), so only plain positive ints pass."""
    if type(days) is not int or days <= 0:
        raise ValueError(f"a TTL must be a positive whole number of days, got {days!r}")
    return days
