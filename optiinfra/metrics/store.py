"""Where window statistics, instance utilization and costs are kept: ClickHouse, embedded or served.

`ChdbMetricsStore` runs ClickHouse in-process (chdb) for the embedded profile and the tests;
`ClickHouseMetricsStore` talks to a ClickHouse server through clickhouse-connect. Both run the same
DDL (`ddl.py`) and the same SQL in `SqlMetricsStore`; only the thin runners that send a statement
differ. Every value from outside travels as a bound `{name:Type}` parameter or as insert data, never
spliced into SQL text. The stores are synchronous, as both drivers are: call them from async code
through `asyncio.to_thread`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, cast

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.domain.enums import PurchaseOption, UtilizationMetric
from optiinfra.domain.fleet import MetricSeries
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.domain.series import PeriodGrid, even_series, floor_to_period
from optiinfra.extras import METRICS_STORE
from optiinfra.metrics import ddl
from optiinfra.metrics.windows import WindowStats

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

DEFAULT_BATCH_SIZE = 10_000
_DT64 = "DateTime64(6, 'UTC')"


class UtilizationSample(BaseModel):
    """One reading of one instance. Utilizations in percent (0-100); None when the source had none."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    customer_id: str
    instance_id: str
    at: datetime
    gpu_utilization: float | None = Field(default=None, ge=0, le=100)
    gpu_memory_used_gib: float | None = Field(default=None, ge=0)
    gpu_memory_total_gib: float | None = Field(default=None, ge=0)
    cpu_utilization: float | None = Field(default=None, ge=0, le=100)
    memory_utilization: float | None = Field(default=None, ge=0, le=100)


class CostSample(BaseModel):
    """What one instance cost in one hour (`hour` is the hour's start)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    customer_id: str
    instance_id: str
    instance_type: str
    lifecycle: PurchaseOption
    hour: datetime
    hourly_usd: float = Field(ge=0)


class DailyRollup(BaseModel):
    """One workload's day, all replicas together: sums, and means/maxima of the per-window p95s."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    workload_id: str
    day: date
    windows: int
    window_seconds: float
    requests: float
    prompt_tokens: float
    generation_tokens: float
    preemptions: float
    prefix_queries: float
    prefix_hits: float
    errors: float
    aborts: float
    ttft_p95_mean: float | None
    ttft_p95_max: float | None
    itl_p95_mean: float | None
    itl_p95_max: float | None
    e2e_p95_mean: float | None
    e2e_p95_max: float | None
    queue_p95_mean: float | None
    queue_p95_max: float | None
    kv_usage_mean: float
    kv_usage_max: float

    @property
    def prefix_hit_rate(self) -> float | None:
        return self.prefix_hits / self.prefix_queries if self.prefix_queries > 0 else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


class MetricsStore(Protocol):
    def write_window_stats(self, rows: Sequence[WindowStats]) -> None: ...

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None: ...

    def write_cost_samples(self, rows: Sequence[CostSample]) -> None: ...

    def read_window_stats(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[WindowStats]: ...

    def read_utilization(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, period_seconds: int
    ) -> list[MetricSeries]: ...

    def read_cost_samples(
        self, instance_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[CostSample]: ...

    def daily_rollup(self, customer_id: str, workload_id: str, day: date) -> DailyRollup | None: ...

    def read_workload_windows(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime, period_seconds: int
    ) -> list[WorkloadWindow]: ...

    def close(self) -> None: ...


class SqlRunner(Protocol):
    """The little a store needs from a ClickHouse driver."""

    def command(self, sql: str) -> None: ...

    def select(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    def insert(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> None: ...

    def close(self) -> None: ...


_WINDOW_COLUMNS = [name for name, _ in ddl.WINDOW_STATS_COLUMNS]
_READ_WINDOW_STATS = f"""SELECT {", ".join(_WINDOW_COLUMNS)}
FROM {ddl.WINDOW_STATS}
WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}}
  AND window_start >= {{start:{_DT64}}} AND window_start < {{end:{_DT64}}}
ORDER BY replica, window_start
LIMIT 1 BY replica, window_start"""

_READ_UTILIZATION = f"""SELECT
    instance_id,
    intDiv(toUnixTimestamp64Milli(at) - {{grid_start_ms:Int64}}, {{period_ms:Int64}}) AS period_index,
    avg(gpu_utilization) AS gpu_utilization,
    avg(if(gpu_memory_total_gib > 0, 100 * gpu_memory_used_gib / gpu_memory_total_gib, NULL))
        AS gpu_memory_utilization,
    avg(cpu_utilization) AS cpu_utilization,
    avg(memory_utilization) AS memory_utilization
FROM {ddl.INSTANCE_UTILIZATION}
WHERE has({{instance_ids:Array(String)}}, instance_id)
  AND at >= {{grid_start:{_DT64}}} AND at < {{end:{_DT64}}}
GROUP BY instance_id, period_index
ORDER BY instance_id, period_index"""

_READ_COSTS = f"""SELECT {", ".join(name for name, _ in ddl.COST_COLUMNS)}
FROM {ddl.COST_SAMPLES} FINAL
WHERE has({{instance_ids:Array(String)}}, instance_id)
  AND hour >= {{start:{_DT64}}} AND hour < {{end:{_DT64}}}
ORDER BY instance_id, hour"""


_WINDOWS_BY_PERIOD = f"""SELECT
    customer_id, workload_id, period_index,
    count() AS replicas,
    sum(requests) AS requests,
    sum(prompt_tokens) AS prompt_tokens,
    sum(generation_tokens) AS generation_tokens,
    sum(errors) AS errors,
    sum(preemptions) AS preemptions,
    max(covered_s) AS covered_s,
    max(ttft_p95) AS ttft_p95, max(ttft_p99) AS ttft_p99,
    max(itl_p95) AS itl_p95, max(itl_p99) AS itl_p99,
    max(e2e_p95) AS e2e_p95, max(e2e_p99) AS e2e_p99,
    max(queue_p95) AS queue_p95,
    sum(running) AS running, sum(waiting) AS waiting, max(kv_usage) AS kv_usage_max,
    max(prompt_len_p95) AS prompt_tokens_p95, max(prompt_len_p99) AS prompt_tokens_p99,
    sum(ttft_weighted) AS ttft_weighted, sum(ttft_weight) AS ttft_weight,
    sum(itl_weighted) AS itl_weighted, sum(itl_weight) AS itl_weight,
    min(kv_capacity_tokens) AS kv_capacity_tokens
FROM (
    SELECT
        customer_id, workload_id, replica,
        intDiv(toUnixTimestamp64Milli(window_start) - {{grid_start_ms:Int64}}, {{period_ms:Int64}})
            AS period_index,
        sum(requests) AS requests,
        sum(prompt_tokens) AS prompt_tokens,
        sum(generation_tokens) AS generation_tokens,
        sum(errors) AS errors,
        sum(preemptions) AS preemptions,
        dateDiff('millisecond', min(window_start), max(window_end)) / 1000 AS covered_s,
        max(ttft_p95) AS ttft_p95, max(ttft_p99) AS ttft_p99,
        max(itl_p95) AS itl_p95, max(itl_p99) AS itl_p99,
        max(e2e_p95) AS e2e_p95, max(e2e_p99) AS e2e_p99,
        max(queue_p95) AS queue_p95,
        argMax(running, window_end) AS running,
        argMax(waiting, window_end) AS waiting,
        max(kv_usage) AS kv_usage,
        max(prompt_len_p95) AS prompt_len_p95, max(prompt_len_p99) AS prompt_len_p99,
        sum(ttft_weighted_row) AS ttft_weighted, sum(ttft_weight_row) AS ttft_weight,
        sum(itl_weighted_row) AS itl_weighted, sum(itl_weight_row) AS itl_weight,
        argMax(kv_capacity_tokens, window_end) AS kv_capacity_tokens
    FROM (
        SELECT *,
            ttft_mean * requests AS ttft_weighted_row,
            if(ttft_mean IS NULL, 0, requests) AS ttft_weight_row,
            itl_mean * generation_tokens AS itl_weighted_row,
            if(itl_mean IS NULL, 0, generation_tokens) AS itl_weight_row
        FROM {ddl.WINDOW_STATS}
        WHERE {{scope}}window_start >= {{grid_start:{_DT64}}} AND window_start < {{end:{_DT64}}}
        LIMIT 1 BY customer_id, workload_id, replica, window_start
    )
    GROUP BY customer_id, workload_id, replica, period_index
)
GROUP BY customer_id, workload_id, period_index
ORDER BY customer_id, workload_id, period_index"""
"""Windows rolled up per workload and period; `{scope}` narrows the rows read (a condition and AND)."""

_READ_WORKLOAD_WINDOWS = _WINDOWS_BY_PERIOD.replace(
    "{scope}", "customer_id = {customer_id:String} AND workload_id = {workload_id:String} AND "
)
_READ_FLEET_WINDOWS = _WINDOWS_BY_PERIOD.replace("{scope}", "")


def _daily_rollup_sql() -> str:
    sums = ["windows", "window_seconds", *ddl.SUMMED_DAILY, "kv_usage_sum"]
    for name in ddl.AVERAGED_DAILY:
        sums += [f"{name}_sum", f"{name}_windows"]
    maxima = ["kv_usage_max", *(f"{name}_max" for name in ddl.AVERAGED_DAILY)]
    columns = [f"sum({name}) AS {name}" for name in sums] + [f"max({name}) AS {name}" for name in maxima]
    return f"""SELECT {", ".join(columns)}
FROM {ddl.WINDOW_STATS_DAILY}
WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}} AND day = {{day:Date}}"""


_DAILY_ROLLUP = _daily_rollup_sql()
_UTILIZATION_METRICS = tuple(UtilizationMetric)
_WORKLOAD_OPTIONALS = (
    "ttft_p95",
    "ttft_p99",
    "itl_p95",
    "itl_p99",
    "e2e_p95",
    "e2e_p99",
    "queue_p95",
    "prompt_tokens_p95",
    "prompt_tokens_p99",
    "kv_capacity_tokens",
)


class SqlMetricsStore:
    """The store's SQL, over any `SqlRunner`. Creates the schema on construction (idempotent)."""

    def __init__(
        self,
        runner: SqlRunner,
        *,
        ttl_days: int = ddl.DEFAULT_TTL_DAYS,
        rollup_ttl_days: int = ddl.DEFAULT_ROLLUP_TTL_DAYS,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self._runner = runner
        self._batch_size = batch_size
        self.raw_retention_days = ttl_days
        """How long raw windows are kept: before that, only the daily rollup has their tokens."""
        for statement in ddl.schema_statements(ttl_days=ttl_days, rollup_ttl_days=rollup_ttl_days):
            runner.command(statement)

    def _insert(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[BaseModel]) -> None:
        names = [name for name, _ in columns]
        for first in range(0, len(rows), self._batch_size):
            batch = rows[first : first + self._batch_size]
            self._runner.insert(table, columns, [_row(row, names) for row in batch])

    def write_window_stats(self, rows: Sequence[WindowStats]) -> None:
        self._insert(ddl.WINDOW_STATS, ddl.WINDOW_STATS_COLUMNS, rows)

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        self._insert(ddl.INSTANCE_UTILIZATION, ddl.UTILIZATION_COLUMNS, rows)

    def write_cost_samples(self, rows: Sequence[CostSample]) -> None:
        self._insert(ddl.COST_SAMPLES, ddl.COST_COLUMNS, rows)

    def read_window_stats(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[WindowStats]:
        """Windows that start in [start, end), by replica then time."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "start": start, "end": end}
        rows = self._runner.select(_READ_WINDOW_STATS, params)
        return [WindowStats.model_validate(_with_utc(row, ("window_start", "window_end"))) for row in rows]

    def read_utilization(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, period_seconds: int
    ) -> list[MetricSeries]:
        """Per-period means on the epoch-aligned grid CloudWatch uses, with the gap rule of
        `optiinfra.cloud.ec2.even_series` (trim the ends, interpolate inside), so a series reads the same
        whichever source filled it."""
        if period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        if not instance_ids:
            return []
        grid_start = floor_to_period(_utc(start), period_seconds)
        count = max(0, int((_utc(end) - grid_start).total_seconds()) // period_seconds)
        grid = PeriodGrid(grid_start, period_seconds, count)
        params = {
            "instance_ids": list(instance_ids),
            "grid_start": grid_start,
            "grid_start_ms": int(grid_start.timestamp() * 1000),
            "period_ms": period_seconds * 1000,
            "end": grid.at(count),
        }
        points: dict[tuple[str, UtilizationMetric], dict[int, float]] = {}
        for row in self._runner.select(_READ_UTILIZATION, params):
            for metric in _UTILIZATION_METRICS:
                if row[metric.value] is not None:
                    points.setdefault((row["instance_id"], metric), {})[int(row["period_index"])] = float(
                        row[metric.value]
                    )
        series = (
            even_series(instance_id, metric, grid, values) for (instance_id, metric), values in points.items()
        )
        return sorted((s for s in series if s is not None), key=lambda s: (s.instance_id, s.metric.value))

    def read_workload_windows(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime, period_seconds: int
    ) -> list[WorkloadWindow]:
        """The workload's windows rolled up per period on the epoch-aligned grid, all replicas together:
        counts add up, latency quantiles are the worst replica's (see `WorkloadWindow`)."""
        rows, grid_start = self._windows_by_period(
            _READ_WORKLOAD_WINDOWS,
            start,
            end,
            period_seconds,
            customer_id=customer_id,
            workload_id=workload_id,
        )
        return [_workload_window(row, grid_start, period_seconds) for row in rows]

    def read_fleet_windows(
        self, start: datetime, end: datetime, period_seconds: int
    ) -> dict[tuple[str, str], list[WorkloadWindow]]:
        """`read_workload_windows` of every workload with a window in the span, in one read, by (customer,
        workload)."""
        rows, grid_start = self._windows_by_period(_READ_FLEET_WINDOWS, start, end, period_seconds)
        found: dict[tuple[str, str], list[WorkloadWindow]] = {}
        for row in rows:
            key = (str(row["customer_id"]), str(row["workload_id"]))
            found.setdefault(key, []).append(_workload_window(row, grid_start, period_seconds))
        return found

    def _windows_by_period(
        self, sql: str, start: datetime, end: datetime, period_seconds: int, **scope: str
    ) -> tuple[list[dict[str, Any]], datetime]:
        if period_seconds <= 0:
            raise ValueError("period_seconds must be positive")
        grid_start = floor_to_period(_utc(start), period_seconds)
        params = {
            **scope,
            "grid_start": grid_start,
            "grid_start_ms": int(grid_start.timestamp() * 1000),
            "period_ms": period_seconds * 1000,
            "end": _utc(end),
        }
        return self._runner.select(sql, params), grid_start

    def read_cost_samples(
        self, instance_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[CostSample]:
        if not instance_ids:
            return []
        params = {"instance_ids": list(instance_ids), "start": start, "end": end}
        rows = self._runner.select(_READ_COSTS, params)
        return [CostSample.model_validate(_with_utc(row, ("hour",))) for row in rows]

    def daily_rollup(self, customer_id: str, workload_id: str, day: date) -> DailyRollup | None:
        params = {"customer_id": customer_id, "workload_id": workload_id, "day": day}
        rows = self._runner.select(_DAILY_ROLLUP, params)
        if not rows or int(rows[0]["windows"] or 0) == 0:
            return None
        row = rows[0]
        windows = int(row["windows"])
        averaged: dict[str, float | None] = {}
        for name in ddl.AVERAGED_DAILY:
            measured = int(row[f"{name}_windows"])
            averaged[f"{name}_mean"] = float(row[f"{name}_sum"]) / measured if measured else None
            averaged[f"{name}_max"] = None if row[f"{name}_max"] is None else float(row[f"{name}_max"])
        return DailyRollup(
            customer_id=customer_id,
            workload_id=workload_id,
            day=day,
            windows=windows,
            window_seconds=float(row["window_seconds"]),
            **{name: float(row[name]) for name in ddl.SUMMED_DAILY},
            **averaged,
            kv_usage_mean=float(row["kv_usage_sum"]) / windows,
            kv_usage_max=float(row["kv_usage_max"]),
        )

    def table_definition(self, table: str) -> str:
        """SHOW CREATE TABLE of one of the store's own tables, to check what the server really made."""
        if table not in ddl.TABLES:
            raise ValueError(f"not a table of the metrics store: {table!r}")
        rows = self._runner.select(f"SHOW CREATE TABLE {table}", {})
        return str(next(iter(rows[0].values())))

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _row(model: BaseModel, names: Iterable[str]) -> list[Any]:
    values = model.model_dump()
    return [_utc(values[name]) if isinstance(values[name], datetime) else values[name] for name in names]


def _workload_window(row: Mapping[str, Any], grid_start: datetime, period_seconds: int) -> WorkloadWindow:
    requests = float(row["requests"])
    # The span the period's windows cover: shorter at the ends of the data, longer than the period when
    # windows are longer than it (each window counts in the period it starts in).
    covered = float(row["covered_s"] or 0.0) or float(period_seconds)
    return WorkloadWindow(
        start=grid_start + timedelta(seconds=int(row["period_index"]) * period_seconds),
        seconds=float(period_seconds),
        replicas=int(row["replicas"]),
        requests=requests,
        request_rate=requests / covered,
        prompt_tokens=float(row["prompt_tokens"]),
        generation_tokens=float(row["generation_tokens"]),
        errors=float(row["errors"]),
        preemptions=float(row["preemptions"]),
        **{name: _optional(row[name]) for name in _WORKLOAD_OPTIONALS},
        ttft_mean=_weighted_mean(row["ttft_weighted"], row["ttft_weight"]),
        itl_mean=_weighted_mean(row["itl_weighted"], row["itl_weight"]),
        running=float(row["running"]),
        waiting=float(row["waiting"]),
        kv_usage_max=float(row["kv_usage_max"]),
    )


def _optional(value: object) -> float | None:
    return None if value is None else float(cast(float, value))


def _weighted_mean(weighted: object, weight: object) -> float | None:
    """A mean over replicas from their means weighted by what each one counted; None when none did."""
    total = _optional(weight)
    if not total or total <= 0:
        return None
    return float(cast(float, weighted)) / total


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC, as everywhere in this project."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _with_utc(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """Drivers hand DateTime64 back as naive datetimes or as text; both mean UTC here."""
    fixed = dict(row)
    for column in columns:
        value = fixed[column]
        fixed[column] = _utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return fixed


def _text_time(moment: datetime) -> str:
    """ClickHouse's text form of a DateTime64(6) in UTC: the microseconds survive, unlike a driver's."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")


class _ChdbSession(Protocol):
    """The typed face of `chdb.session.Session`, which ships without annotations."""

    def query(
        self, sql: str, fmt: str = ..., udf_path: str = ..., params: Mapping[str, str] | None = ...
    ) -> object: ...

    def close(self) -> None: ...


def _open_chdb_session(path: str) -> _ChdbSession:
    """chdb belongs to the `embedded` extra, which a production install (a ClickHouse server) leaves out."""
    session = METRICS_STORE.load()
    return cast(Callable[[str], _ChdbSession], session.Session)(path)


class ChdbRunner:
    """Embedded ClickHouse. chdb allows one open engine path per process: close before opening another."""

    def __init__(self, path: str | Path) -> None:
        self._session = _open_chdb_session(str(path))

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def select(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        bound = {k: _chdb_param(v) for k, v in params.items()}
        text = str(self._session.query(sql, "JSONEachRow", params=bound))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def insert(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Rows travel as JSONEachRow data after the statement: JSON encoding is their escaping."""
        if not rows:
            return
        names = [name for name, _ in columns]
        payload = "\n".join(
            json.dumps(dict(zip(names, row, strict=True)), default=_json_value) for row in rows
        )
        settings = ", ".join(f"{key} = {value}" for key, value in ddl.INSERT_SETTINGS.items())
        self._session.query(
            f"INSERT INTO {table} ({', '.join(names)}) SETTINGS {settings} FORMAT JSONEachRow\n{payload}"
        )

    def close(self) -> None:
        self._session.close()


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return _text_time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to ClickHouse")


def _chdb_param(value: object) -> str:
    """chdb takes every parameter as ClickHouse text, which the engine parses as the placeholder's type."""
    if isinstance(value, datetime):
        return _text_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ",".join(_quoted(str(item)) for item in value) + "]"
    return str(value)


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class ClickHouseConnectRunner:
    """A ClickHouse server (or anything clickhouse-connect reaches) through a clickhouse-connect client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def select(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        bound = {k: _text_time(v) if isinstance(v, datetime) else v for k, v in params.items()}
        return list(self._client.query(sql, parameters=bound).named_results())

    def insert(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        self._client.insert(
            table,
            [list(row) for row in rows],
            column_names=[name for name, _ in columns],
            column_type_names=[sql_type for _, sql_type in columns],
            settings=dict(ddl.INSERT_SETTINGS),
        )

    def close(self) -> None:
        self._client.close()


class ChdbMetricsStore(SqlMetricsStore):
    """The embedded store: data under `path`, no server."""

    def __init__(
        self,
        path: str | Path,
        *,
        ttl_days: int = ddl.DEFAULT_TTL_DAYS,
        rollup_ttl_days: int = ddl.DEFAULT_ROLLUP_TTL_DAYS,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(
            ChdbRunner(path), ttl_days=ttl_days, rollup_ttl_days=rollup_ttl_days, batch_size=batch_size
        )


class ClickHouseMetricsStore(SqlMetricsStore):
    """The production store, over a clickhouse-connect client the caller configured."""

    def __init__(
        self,
        client: Client,
        *,
        ttl_days: int = ddl.DEFAULT_TTL_DAYS,
        rollup_ttl_days: int = ddl.DEFAULT_ROLLUP_TTL_DAYS,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        super().__init__(
            ClickHouseConnectRunner(client),
            ttl_days=ttl_days,
            rollup_ttl_days=rollup_ttl_days,
            batch_size=batch_size,
        )
