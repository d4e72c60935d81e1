"""The vLLM readings a snapshot carries for the Performance agent, read from the metrics store: recent
windows, weeks of request rate on an even grid, and each replica's recent share of the traffic."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from optiinfra.domain.performance import ReplicaLoad, RequestRateHistory, WorkloadWindow
from optiinfra.domain.series import floor_to_period
from optiinfra.metrics.utilization import AsyncMetricsStore

RATE_PERIOD_SECONDS = 600
"""The forecasting grid: ten minutes, as the request-rate traces the agent is measured on."""
RATE_LOOKBACK = timedelta(days=14)
"""Two weeks: enough for a weekly cycle to show and for a held-out day to choose the forecast by."""
RECENT_WINDOWS = timedelta(days=1)
REPLICA_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class PerformanceReadings:
    windows: list[WorkloadWindow]
    request_rate: RequestRateHistory
    replica_loads: list[ReplicaLoad]


def rate_history(
    windows: list[WorkloadWindow], start: datetime, end: datetime, period_seconds: int
) -> RequestRateHistory:
    """The windows' rates on the full grid from `start` to `end`; None where no window fell."""
    grid_start = floor_to_period(start, period_seconds)
    count = int((end - grid_start).total_seconds() // period_seconds)
    values: list[float | None] = [None] * count
    for window in windows:
        index = int((window.start - grid_start).total_seconds() // period_seconds)
        if 0 <= index < count:
            values[index] = window.request_rate
    return RequestRateHistory(start=grid_start, interval_seconds=period_seconds, values=values)


async def read_performance(
    metrics: AsyncMetricsStore,
    customer_id: str,
    workload_id: str,
    now: datetime,
    instance_types: dict[str, str],
) -> PerformanceReadings:
    """`instance_types` maps replica ids to their instance type, where known."""
    history = await metrics.read_workload_windows(
        customer_id, workload_id, now - RATE_LOOKBACK, now, RATE_PERIOD_SECONDS
    )
    recent = [w for w in history if w.start >= now - RECENT_WINDOWS]
    rows = await metrics.read_window_stats(customer_id, workload_id, now - REPLICA_LOOKBACK, now)
    requests: dict[str, float] = defaultdict(float)
    seconds: dict[str, float] = defaultdict(float)
    ttft: dict[str, float] = {}
    queries: dict[str, float] = defaultdict(float)
    hits: dict[str, float] = defaultdict(float)
    for row in rows:
        requests[row.replica] += row.requests
        seconds[row.replica] += row.window_seconds
        queries[row.replica] += row.prefix_queries
        hits[row.replica] += row.prefix_hits
        if row.ttft_p95 is not None:
            ttft[row.replica] = max(ttft.get(row.replica, 0.0), row.ttft_p95)
    loads = [
        ReplicaLoad(
            replica=replica,
            instance_type=instance_types.get(replica),
            request_rate=requests[replica] / seconds[replica] if seconds[replica] > 0 else 0.0,
            ttft_p95=ttft.get(replica),
            prefix_hit_rate=hits[replica] / queries[replica] if queries[replica] > 0 else None,
        )
        for replica in sorted(requests)
    ]
    return PerformanceReadings(
        windows=recent,
        request_rate=rate_history(history, now - RATE_LOOKBACK, now, RATE_PERIOD_SECONDS),
        replica_loads=loads,
    )
