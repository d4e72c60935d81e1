"""The metrics store with the two reads only the reports need, behind the same lock as every other call.

Hourly cost records are kept per instance, not per workload, so a report finds a workload's cost through
the replicas its window statistics name (a replica is the instance it runs on, whether the collector
scraped it or read it from Prometheus). Tokens per hour come from the raw windows, kept for
`metrics_retention_days`; tokens over months from the daily rollup, which is kept for two years. Both
are SQL over the store's own tables, so they live on a subclass that shares the store's runner, and its
async face shares the lock that serializes chdb (one engine per process) for the worker, the collector
and the API alike.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import clickhouse_connect
from pydantic import BaseModel, ConfigDict

from optiinfra.domain.performance import WorkloadWindow
from optiinfra.metrics import ddl
from optiinfra.metrics.store import (
    ChdbRunner,
    ClickHouseConnectRunner,
    SqlMetricsStore,
    SqlRunner,
)
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings

_DT64 = "DateTime64(6, 'UTC')"
HOUR_SECONDS = 3600.0

_WORKLOAD_REPLICAS = f"""SELECT DISTINCT replica
FROM {ddl.WINDOW_STATS}
WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}}
  AND window_start >= {{start:{_DT64}}} AND window_start < {{end:{_DT64}}}
ORDER BY replica"""

_FLEET_REPLICAS = f"""SELECT DISTINCT customer_id, workload_id, replica
FROM {ddl.WINDOW_STATS}
WHERE window_start >= {{start:{_DT64}}} AND window_start < {{end:{_DT64}}}
ORDER BY customer_id, workload_id, replica"""

_HOURLY_TOKENS = f"""SELECT
    hour,
    sum(requests) AS requests,
    sum(prompt_tokens) AS prompt_tokens,
    sum(generation_tokens) AS generation_tokens,
    sum(prefix_queries) AS prefix_queries,
    sum(prefix_hits) AS prefix_hits,
    min(window_start) AS first_start,
    max(window_end) AS last_end
FROM (
    SELECT
        toStartOfHour(subtractMicroseconds(window_end, 1)) AS hour,
        window_start, window_end, requests, prompt_tokens, generation_tokens, prefix_queries, prefix_hits
    FROM {ddl.WINDOW_STATS}
    WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}}
      AND window_end > {{start:{_DT64}}} AND window_end <= {{end:{_DT64}}}
    ORDER BY replica, window_start
    LIMIT 1 BY replica, window_start
)
GROUP BY hour
ORDER BY hour"""

_DAILY_TOKENS = f"""SELECT
    day,
    sum(requests) AS requests,
    sum(prompt_tokens) AS prompt_tokens,
    sum(generation_tokens) AS generation_tokens,
    sum(prefix_queries) AS prefix_queries,
    sum(prefix_hits) AS prefix_hits
FROM {ddl.WINDOW_STATS_DAILY}
WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}}
  AND day >= {{first:Date}} AND day < {{end:Date}}
GROUP BY day
ORDER BY day"""


class DailyTokens(BaseModel):
    """What a workload's replicas counted on one UTC day, all replicas together (vLLM's counters)."""

    model_config = ConfigDict(frozen=True)

    day: date
    requests: float
    prompt_tokens: float
    generation_tokens: float
    prefix_queries: float
    prefix_hits: float


class HourlyTokens(BaseModel):
    """What a workload's replicas counted in one UTC hour, all replicas together (vLLM's counters), from
    the raw windows. A window counts in the hour it ends in (one that ends on the hour, in the hour it
    closes). `counted_seconds` is the part of the hour the windows span: from the first window's start (or
    the hour's start) to the last window's end, so an hour in which counting began or that is still under
    way counts only in part."""

    model_config = ConfigDict(frozen=True)

    hour: datetime
    requests: float
    prompt_tokens: float
    generation_tokens: float
    prefix_queries: float
    prefix_hits: float
    counted_seconds: float


class ReportingMetricsStore(SqlMetricsStore):
    """`SqlMetricsStore` plus the reports' reads, over the same runner."""

    def workload_replicas(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[str]:
        """Every replica with a window starting in [start, end), by name."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "start": start, "end": end}
        return [str(row["replica"]) for row in self._runner.select(_WORKLOAD_REPLICAS, params)]

    def fleet_replicas(self, start: datetime, end: datetime) -> dict[tuple[str, str], list[str]]:
        """`workload_replicas` of every workload with a window in the span, in one read, by (customer,
        workload)."""
        found: dict[tuple[str, str], list[str]] = {}
        for row in self._runner.select(_FLEET_REPLICAS, {"start": start, "end": end}):
            found.setdefault((str(row["customer_id"]), str(row["workload_id"])), []).append(
                str(row["replica"])
            )
        return found

    def daily_tokens(self, customer_id: str, workload_id: str, first: date, end: date) -> list[DailyTokens]:
        """The days in [first, end) with any window, oldest first."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "first": first, "end": end}
        return [DailyTokens.model_validate(row) for row in self._runner.select(_DAILY_TOKENS, params)]

    def hourly_tokens(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[HourlyTokens]:
        """The hours in [start, end) (whole hours) with any raw window, oldest first. A window stored twice
        (same replica and start) counts once."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "start": start, "end": end}
        found = []
        for row in self._runner.select(_HOURLY_TOKENS, params):
            hour, first, last = (_utc(row[name]) for name in ("hour", "first_start", "last_end"))
            counted = (last - max(first, hour)).total_seconds()
            found.append(
                HourlyTokens(
                    hour=hour,
                    requests=float(row["requests"]),
                    prompt_tokens=float(row["prompt_tokens"]),
                    generation_tokens=float(row["generation_tokens"]),
                    prefix_queries=float(row["prefix_queries"]),
                    prefix_hits=float(row["prefix_hits"]),
                    counted_seconds=min(HOUR_SECONDS, max(0.0, counted)),
                )
            )
        return found


class ReportingMetrics(AsyncMetricsStore):
    """The async store every part of a process shares, with the reports' reads: one lock for all."""

    def __init__(self, store: ReportingMetricsStore) -> None:
        super().__init__(store)
        self._reporting = store

    async def workload_replicas(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[str]:
        return await self._run(
            lambda: self._reporting.workload_replicas(customer_id, workload_id, start, end)
        )

    async def fleet_replicas(self, start: datetime, end: datetime) -> dict[tuple[str, str], list[str]]:
        return await self._run(lambda: self._reporting.fleet_replicas(start, end))

    async def read_fleet_windows(
        self, start: datetime, end: datetime, period_seconds: int
    ) -> dict[tuple[str, str], list[WorkloadWindow]]:
        return await self._run(lambda: self._reporting.read_fleet_windows(start, end, period_seconds))

    async def daily_tokens(
        self, customer_id: str, workload_id: str, first: date, end: date
    ) -> list[DailyTokens]:
        return await self._run(lambda: self._reporting.daily_tokens(customer_id, workload_id, first, end))

    async def hourly_tokens(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[HourlyTokens]:
        return await self._run(lambda: self._reporting.hourly_tokens(customer_id, workload_id, start, end))

    def raw_windows_since(self, now: datetime) -> datetime:
        """The start of the first whole UTC day whose raw windows the store still keeps at `now`."""
        kept_from = now - timedelta(days=self._reporting.raw_retention_days)
        midnight = kept_from.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight if midnight == kept_from else midnight + timedelta(days=1)

    def close(self) -> None:
        self._reporting.close()


def _utc(value: object) -> datetime:
    """Drivers hand times back as naive datetimes or as text; both mean UTC here."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a time, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def open_reporting_metrics(settings: Settings) -> ReportingMetrics:
    """The configured store (a ClickHouse server when OPTIINFRA_CLICKHOUSE_URL is set, else chdb under the
    state dir), as `open_metrics_store` opens it, with the reports' reads."""
    runner: SqlRunner
    if settings.clickhouse_url:
        runner = ClickHouseConnectRunner(clickhouse_connect.get_client(dsn=settings.clickhouse_url))
    else:
        path = Path(settings.state_dir) / "metrics"
        path.mkdir(parents=True, exist_ok=True)
        runner = ChdbRunner(path)
    return ReportingMetrics(ReportingMetricsStore(runner, ttl_days=settings.metrics_retention_days))
