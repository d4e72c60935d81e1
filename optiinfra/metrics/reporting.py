"""The metrics store with the two reads only the reports need, behind the same lock as every other call.

Hourly cost records are kept per instance, not per workload, so a report finds a workload's cost through
the replicas its window statistics name (a replica is the instance it runs on, whether the collector
scraped it or read it from Prometheus). Tokens over months come from the daily rollup, which is kept for
two years where raw windows are kept for `metrics_retention_days`. Both are SQL over the store's own
tables, so they live on a subclass that shares the store's runner, and its async face shares the lock
that serializes chdb (one engine per process) for the worker, the collector and the API alike.
"""

from datetime import date, datetime
from pathlib import Path

import clickhouse_connect
from pydantic import BaseModel, ConfigDict

from optiinfra.metrics import ddl
from optiinfra.metrics.store import ChdbRunner, ClickHouseConnectRunner, SqlMetricsStore, SqlRunner
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings

_DT64 = "DateTime64(6, 'UTC')"

_WORKLOAD_REPLICAS = f"""SELECT DISTINCT replica
FROM {ddl.WINDOW_STATS}
WHERE customer_id = {{customer_id:String}} AND workload_id = {{workload_id:String}}
  AND window_start >= {{start:{_DT64}}} AND window_start < {{end:{_DT64}}}
ORDER BY replica"""

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


class ReportingMetricsStore(SqlMetricsStore):
    """`SqlMetricsStore` plus the reports' reads, over the same runner."""

    def workload_replicas(
        self, customer_id: str, workload_id: str, start: datetime, end: datetime
    ) -> list[str]:
        """Every replica with a window starting in [start, end), by name."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "start": start, "end": end}
        return [str(row["replica"]) for row in self._runner.select(_WORKLOAD_REPLICAS, params)]

    def daily_tokens(self, customer_id: str, workload_id: str, first: date, end: date) -> list[DailyTokens]:
        """The days in [first, end) with any window, oldest first."""
        params = {"customer_id": customer_id, "workload_id": workload_id, "first": first, "end": end}
        return [DailyTokens.model_validate(row) for row in self._runner.select(_DAILY_TOKENS, params)]


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

    async def daily_tokens(
        self, customer_id: str, workload_id: str, first: date, end: date
    ) -> list[DailyTokens]:
        return await self._run(lambda: self._reporting.daily_tokens(customer_id, workload_id, first, end))

    def close(self) -> None:
        self._reporting.close()


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
