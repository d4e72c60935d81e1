"""Turns two scrapes of one replica into the statistics of the window between them.

Counters become per-second rates the way PromQL's `increase()` sees them: a counter that went down
was reset (the replica restarted), so its whole current value is the window's increase. A changed
process start time (`_created`) marks every series as reset. Histogram bucket deltas become quantiles
with PromQL's `histogram_quantile` rule: find the bucket holding the rank, interpolate linearly inside
it, and answer the highest finite bound when the rank falls in +Inf.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import HistogramSnapshot, VllmSample


class WindowStats(BaseModel):
    """One replica over one window. Latencies in seconds; rates per second; `kv_usage` a 0-1 fraction.

    Quantiles and ratios are None when the window saw nothing to measure them on. The raw increases
    (`requests`, `prompt_tokens`, ...) are kept so that rollups can add windows up exactly."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    customer_id: str
    workload_id: str
    replica: str
    model_name: str
    window_start: datetime
    window_end: datetime
    counter_reset: bool
    requests: float
    prompt_tokens: float
    generation_tokens: float
    preemptions: float
    prefix_queries: float
    prefix_hits: float
    errors: float
    aborts: float
    request_rate: float
    prompt_tps: float
    generation_tps: float
    preemption_rate: float
    prefix_hit_rate: float | None
    error_rate: float | None
    ttft_mean: float | None
    ttft_p50: float | None
    ttft_p90: float | None
    ttft_p95: float | None
    ttft_p99: float | None
    itl_mean: float | None
    itl_p50: float | None
    itl_p90: float | None
    itl_p95: float | None
    itl_p99: float | None
    e2e_mean: float | None
    e2e_p50: float | None
    e2e_p95: float | None
    e2e_p99: float | None
    queue_mean: float | None
    queue_p50: float | None
    queue_p95: float | None
    queue_p99: float | None
    running: float
    waiting: float
    kv_usage: float
    prompt_len_p95: float | None = None
    prompt_len_p99: float | None = None
    kv_capacity_tokens: float | None = None
    """The KV cache's size in tokens as the engine reports it at the window's end (`cache_config_info`)."""

    @property
    def window_seconds(self) -> float:
        return (self.window_end - self.window_start).total_seconds()


def window_stats(
    previous: VllmSample, current: VllmSample, *, customer_id: str, workload_id: str
) -> WindowStats:
    """Statistics of the window (previous.at, current.at]; gauges are read at the window's end."""
    if previous.replica != current.replica:
        raise ValueError(f"samples of different replicas: {previous.replica} and {current.replica}")
    seconds = (current.at - previous.at).total_seconds()
    if seconds <= 0:
        raise ValueError("the current sample must be taken after the previous one")
    restarted = (
        None not in (previous.started_at, current.started_at) and previous.started_at != current.started_at
    )
    delta = _Deltas(previous, current, restarted)
    requests = delta.counter(names.REQUEST_SUCCESS)
    prompt_tokens = delta.counter(names.PROMPT_TOKENS)
    generation_tokens = delta.counter(names.GENERATION_TOKENS)
    preemptions = delta.counter(names.NUM_PREEMPTIONS)
    prefix_queries = delta.counter(names.PREFIX_CACHE_QUERIES)
    prefix_hits = delta.counter(names.PREFIX_CACHE_HITS)
    errors = delta.finished(names.ERROR_REASON)
    aborts = delta.finished(names.ABORT_REASON)
    ttft = delta.histogram(names.TIME_TO_FIRST_TOKEN)
    itl = delta.histogram(names.INTER_TOKEN_LATENCY)
    e2e = delta.histogram(names.E2E_REQUEST_LATENCY)
    queue = delta.histogram(names.REQUEST_QUEUE_TIME)
    prompt_lengths = delta.histogram(names.REQUEST_PROMPT_TOKENS)
    return WindowStats(
        customer_id=customer_id,
        workload_id=workload_id,
        replica=current.replica,
        model_name=current.model_name or previous.model_name or "",
        window_start=previous.at,
        window_end=current.at,
        counter_reset=restarted or delta.saw_reset,
        requests=requests,
        prompt_tokens=prompt_tokens,
        generation_tokens=generation_tokens,
        preemptions=preemptions,
        prefix_queries=prefix_queries,
        prefix_hits=prefix_hits,
        errors=errors,
        aborts=aborts,
        request_rate=requests / seconds,
        prompt_tps=prompt_tokens / seconds,
        generation_tps=generation_tokens / seconds,
        preemption_rate=preemptions / seconds,
        prefix_hit_rate=prefix_hits / prefix_queries if prefix_queries > 0 else None,
        error_rate=errors / requests if requests > 0 else None,
        ttft_mean=_mean(ttft),
        ttft_p50=_quantile(0.50, ttft),
        ttft_p90=_quantile(0.90, ttft),
        ttft_p95=_quantile(0.95, ttft),
        ttft_p99=_quantile(0.99, ttft),
        itl_mean=_mean(itl),
        itl_p50=_quantile(0.50, itl),
        itl_p90=_quantile(0.90, itl),
        itl_p95=_quantile(0.95, itl),
        itl_p99=_quantile(0.99, itl),
        e2e_mean=_mean(e2e),
        e2e_p50=_quantile(0.50, e2e),
        e2e_p95=_quantile(0.95, e2e),
        e2e_p99=_quantile(0.99, e2e),
        queue_mean=_mean(queue),
        queue_p50=_quantile(0.50, queue),
        queue_p95=_quantile(0.95, queue),
        queue_p99=_quantile(0.99, queue),
        running=current.gauges.get(names.NUM_REQUESTS_RUNNING, 0.0),
        waiting=current.gauges.get(names.NUM_REQUESTS_WAITING, 0.0),
        kv_usage=current.gauges.get(names.KV_CACHE_USAGE_PERC, 0.0),
        prompt_len_p95=_quantile(0.95, prompt_lengths),
        prompt_len_p99=_quantile(0.99, prompt_lengths),
        kv_capacity_tokens=float(current.kv_cache_tokens) if current.kv_cache_tokens is not None else None,
    )


class _Deltas:
    """Increases between two samples, remembering whether any series had been reset."""

    def __init__(self, previous: VllmSample, current: VllmSample, restarted: bool) -> None:
        self._previous = previous
        self._current = current
        self._restarted = restarted
        self.saw_reset = False

    def _increase(self, before: float, after: float) -> float:
        if self._restarted:
            return after
        if after < before:
            self.saw_reset = True
            return after
        return after - before

    def counter(self, name: str) -> float:
        return self._increase(self._previous.counters.get(name, 0.0), self._current.counters.get(name, 0.0))

    def finished(self, reason: str) -> float:
        before = self._previous.finished_by_reason.get(reason, 0.0)
        return self._increase(before, self._current.finished_by_reason.get(reason, 0.0))

    def histogram(self, name: str) -> HistogramSnapshot | None:
        after = self._current.histograms.get(name)
        if after is None:
            return None
        before = self._previous.histograms.get(name)
        if self._restarted or before is None:
            return after
        if before.bounds != after.bounds or any(
            later < earlier for earlier, later in zip(before.cumulative, after.cumulative, strict=True)
        ):
            self.saw_reset = True
            return after
        return HistogramSnapshot(
            bounds=after.bounds,
            cumulative=tuple(a - b for a, b in zip(after.cumulative, before.cumulative, strict=True)),
            sum=after.sum - before.sum,
        )


def _mean(histogram: HistogramSnapshot | None) -> float | None:
    if histogram is None or histogram.count <= 0:
        return None
    return max(histogram.sum, 0.0) / histogram.count


def _quantile(q: float, histogram: HistogramSnapshot | None) -> float | None:
    if histogram is None or histogram.count <= 0:
        return None
    return histogram_quantile(q, histogram.bounds, histogram.cumulative)


def histogram_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """PromQL's histogram_quantile over finite `bounds` and cumulative counts ending with +Inf.

    The answer lies in the bucket that holds the q-th observation, interpolated linearly from the
    bucket's lower bound (0 for the first bucket, as Prometheus assumes non-negative observations)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be between 0 and 1")
    if len(cumulative) != len(bounds) + 1:
        raise ValueError("cumulative counts need one entry per bound plus +Inf")
    total = cumulative[-1]
    if total <= 0 or not bounds:
        return math.nan
    rank = q * total
    index = next(i for i, count in enumerate(cumulative) if count >= rank)
    if index == len(bounds):
        return bounds[-1]
    upper = bounds[index]
    lower = bounds[index - 1] if index > 0 else 0.0
    if index == 0 and upper <= 0:
        return upper
    below = cumulative[index - 1] if index > 0 else 0.0
    in_bucket = cumulative[index] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket
