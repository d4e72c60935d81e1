"""Reads the same window statistics from a Prometheus server that already scrapes the replicas.

`query_range` speaks Prometheus's documented HTTP API (`POST /api/v1/query_range`, form-encoded, so long
queries do not hit URL limits; the answer is `{"status": "success", "data": {"resultType": "matrix",
"result": [{"metric": {...}, "values": [[unix_seconds, "value"], ...]}]}}`). `window_stat_queries`
writes the PromQL for the fields of `WindowStats` with the current vLLM names; label values are
escaped as PromQL strings, label names are checked, so a caller's selector cannot change the query.
Regex matchers (`=~`) are escaped the same way; `quote_meta` makes a literal into an RE2 pattern.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from optiinfra.metrics import vllm_names as names

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PrometheusQueryError(Exception):
    """Prometheus refused the query, could not be reached, or answered something unexpected."""


class PromSeries(BaseModel):
    """One series of a range query: its labels and (timestamp, value) points."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    points: list[tuple[datetime, float]]


async def query_range(
    base_url: str,
    promql: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    client: httpx.AsyncClient,
    *,
    timeout_seconds: float = 30.0,
) -> list[PromSeries]:
    """Evaluate `promql` at every `step` from `start` to `end` (inclusive)."""
    if step.total_seconds() <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    form = {
        "query": promql,
        "start": _unix(start),
        "end": _unix(end),
        "step": f"{step.total_seconds():g}",
    }
    url = f"{base_url.rstrip('/')}/api/v1/query_range"
    try:
        response = await client.post(url, data=form, timeout=timeout_seconds)
    except httpx.HTTPError as exc:
        raise PrometheusQueryError(f"query_range at {url} failed: {exc!r}") from exc
    return _matrix(response)


def _matrix(response: httpx.Response) -> list[PromSeries]:
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise PrometheusQueryError(f"HTTP {response.status_code}, not JSON: {response.text[:200]!r}") from exc
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        error_type = body.get("errorType") if isinstance(body, dict) else None
        raise PrometheusQueryError(f"HTTP {response.status_code}, {error_type}: {error}")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise PrometheusQueryError(f"expected a matrix result, got {str(data)[:200]!r}")
    try:
        return [
            PromSeries(
                labels={str(k): str(v) for k, v in item.get("metric", {}).items()},
                points=[(datetime.fromtimestamp(float(t), tz=UTC), float(v)) for t, v in item["values"]],
            )
            for item in data["result"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise PrometheusQueryError(f"malformed matrix: {exc!r}") from exc


def _unix(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.3f}"


def check_label_name(label: str) -> str:
    """`label`, if Prometheus accepts it as a label name; anything else could rewrite the query."""
    if not _LABEL_NAME.match(label):
        raise ValueError(f"not a Prometheus label name: {label!r}")
    return label


def selector(
    metric: str,
    matchers: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    *,
    regex: Mapping[str, str] | None = None,
) -> str:
    """`metric{label="value",...,label=~"pattern"}` with values escaped as PromQL double-quoted strings.

    `regex` values are RE2 patterns, which Prometheus anchors at both ends."""
    pairs = {**matchers, **(extra or {})}
    terms = [(label, "=", value) for label, value in pairs.items()]
    terms += [(label, "=~", pattern) for label, pattern in (regex or {}).items()]
    for label, _, _ in terms:
        check_label_name(label)
    body = ",".join(f'{label}{op}"{_escape(value)}"' for label, op, value in sorted(terms))
    return f"{metric}{{{body}}}" if body else metric


_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def quote_meta(literal: str) -> str:
    """An RE2 pattern matching exactly `literal`: Go's `regexp.QuoteMeta`, which Prometheus parses."""
    return "".join(f"\\{char}" if char in _RE2_SPECIAL else char for char in literal)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _duration(window: timedelta) -> str:
    seconds = window.total_seconds()
    if seconds <= 0 or seconds != math.floor(seconds):
        raise ValueError("the rate window must be a positive whole number of seconds")
    return f"{int(seconds)}s"


def window_stat_queries(
    matchers: Mapping[str, str],
    window: timedelta,
    *,
    by: Sequence[str] = ("instance",),
    regex_matchers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """PromQL per `WindowStats` field, one series per value of the `by` labels (a replica by default).

    Every key is a `WindowStats` field and its value means what the field means: rates per second,
    `increase` for the four counts that have no rate field (Prometheus defines `increase` as `rate`
    times the range, so all counts agree), `resets` of the success counter for `counter_reset`, and
    `model_name` as a `group` whose series carry the `model_name` label (the value is always 1).

    Quantiles, means and ratios are read off exact differences, each series' value at the window's end
    less its value one window earlier (the whole value for a series born inside the window), not off
    `rate`: `rate` extrapolates each series to the window's edges on its own and stops at a counter's
    zero point, so buckets and counters that began at different times are scaled unlike each other and
    a quantile or ratio built of them shifts. The differences are what the scrape path computes too."""
    for label in by:
        check_label_name(label)
    rng = _duration(window)
    group = ", ".join(by)
    with_model = ", ".join(dict.fromkeys([*by, names.LABEL_MODEL_NAME]))

    def sel(metric: str, extra: Mapping[str, str] | None = None) -> str:
        return selector(metric, matchers, extra, regex=regex_matchers)

    def rate(metric: str, extra: Mapping[str, str] | None = None, how: str = "rate") -> str:
        return f"sum by ({group}) ({how}({sel(metric, extra)}[{rng}]))"

    def delta(metric: str, extra: Mapping[str, str] | None = None) -> str:
        now = sel(metric, extra)
        return f"(clamp_min({now} - {now} offset {rng}, 0) or {now})"

    def change(metric: str, extra: Mapping[str, str] | None = None) -> str:
        return f"sum by ({group}) ({delta(metric, extra)})"

    def quantile(q: float, histogram: str) -> str:
        return f"histogram_quantile({q}, sum by ({group}, le) ({delta(histogram + '_bucket')}))"

    def mean(histogram: str) -> str:
        return f"{change(histogram + '_sum')} / {change(histogram + '_count')}"

    def gauge(metric: str, how: str = "sum") -> str:
        return f"{how} by ({group}) ({sel(metric)})"

    success = names.REQUEST_SUCCESS + "_total"
    error = {names.LABEL_FINISHED_REASON: names.ERROR_REASON}
    abort = {names.LABEL_FINISHED_REASON: names.ABORT_REASON}
    queries = {
        "request_rate": rate(success),
        "prompt_tps": rate(names.PROMPT_TOKENS + "_total"),
        "generation_tps": rate(names.GENERATION_TOKENS + "_total"),
        "preemption_rate": rate(names.NUM_PREEMPTIONS + "_total"),
        "prefix_hit_rate": f"{change(names.PREFIX_CACHE_HITS + '_total')} / "
        f"{change(names.PREFIX_CACHE_QUERIES + '_total')}",
        "error_rate": f"{change(success, error)} / {change(success)}",
        "running": gauge(names.NUM_REQUESTS_RUNNING),
        "waiting": gauge(names.NUM_REQUESTS_WAITING),
        "kv_usage": gauge(names.KV_CACHE_USAGE_PERC, "avg"),
        "prefix_queries": rate(names.PREFIX_CACHE_QUERIES + "_total", how="increase"),
        "prefix_hits": rate(names.PREFIX_CACHE_HITS + "_total", how="increase"),
        "errors": rate(success, error, how="increase"),
        "aborts": rate(success, abort, how="increase"),
        "counter_reset": rate(success, how="resets"),
        "model_name": f"group by ({with_model}) ({sel(names.NUM_REQUESTS_RUNNING)})",
    }
    for prefix, histogram, quantiles in _QUANTILE_FIELDS:
        queries[f"{prefix}_mean"] = mean(histogram)
        for q in quantiles:
            queries[f"{prefix}_p{round(q * 100)}"] = quantile(q, histogram)
    # The prompt's tail, for capacity answers on the workload's own request shape.
    for q in (0.95, 0.99):
        queries[f"prompt_len_p{round(q * 100)}"] = quantile(q, names.REQUEST_PROMPT_TOKENS)
    return queries


_QUANTILE_FIELDS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    ("ttft", names.TIME_TO_FIRST_TOKEN, (0.5, 0.9, 0.95, 0.99)),
    ("itl", names.INTER_TOKEN_LATENCY, (0.5, 0.9, 0.95, 0.99)),
    ("e2e", names.E2E_REQUEST_LATENCY, (0.5, 0.95, 0.99)),
    ("queue", names.REQUEST_QUEUE_TIME, (0.5, 0.95, 0.99)),
)


async def query_window_stats(
    base_url: str,
    matchers: Mapping[str, str],
    start: datetime,
    end: datetime,
    step: timedelta,
    client: httpx.AsyncClient,
    *,
    window: timedelta | None = None,
    by: Sequence[str] = ("instance",),
    regex_matchers: Mapping[str, str] | None = None,
    max_concurrency: int = 4,
) -> dict[str, list[PromSeries]]:
    """Every `WindowStats` field over [start, end]; the rate window defaults to the step. A few queries
    run at once, not all of them: range queries are heavy for the server. The first failure cancels
    the queries still running, so none outlives the call (or the client it uses)."""
    queries = window_stat_queries(matchers, window or step, by=by, regex_matchers=regex_matchers)
    gate = asyncio.Semaphore(max_concurrency)

    async def run(promql: str) -> list[PromSeries]:
        async with gate:
            return await query_range(base_url, promql, start, end, step, client)

    tasks = [asyncio.ensure_future(run(promql)) for promql in queries.values()]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return dict(zip(queries, results, strict=True))
