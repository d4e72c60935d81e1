"""Window statistics of a workload's replicas read from a Prometheus server that already scrapes them.

Where a customer runs Prometheus, the collector need not reach every replica itself, nor keep the
previous scrape in memory: Prometheus holds the history, so one range query step at `now` with a rate
window of `window` gives the statistics of [now - window, now] at once, even on the first pass.

Which series belong to which instance: vLLM targets are usually labeled `instance="<ip>:<port>"` by
Prometheus's default relabeling, so by default an instance is matched by its private IP, with or
without a port. `instance_key` picks another key (e.g. `instance_id_key` where relabeling sets the
instance label to the EC2 instance id); the key is matched literally, RE2-escaped, never as a pattern.
One vLLM per instance is the fleet's rule; should several targets map to one instance anyway, the
first label value in sorted order is read and the others are left out rather than mixed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx

from optiinfra.domain.fleet import Instance
from optiinfra.metrics.prometheus_api import PromSeries, check_label_name, query_window_stats, quote_meta
from optiinfra.metrics.windows import WindowStats

InstanceKey = Callable[[Instance], str | None]

_PORT_SUFFIX = re.compile(r"^(.*):[0-9]+$")

# Rate fields and the count fields they give over the window (count = rate x window seconds).
_RATE_COUNTS: Mapping[str, str] = {
    "request_rate": "requests",
    "prompt_tps": "prompt_tokens",
    "generation_tps": "generation_tokens",
    "preemption_rate": "preemptions",
}
# Counts queried directly with `increase`, which Prometheus defines as rate x range.
_DIRECT_COUNTS = ("prefix_queries", "prefix_hits", "errors", "aborts")
# Ratios and (numerator, denominator) counts to compute them from when Prometheus gave none.
_RATIOS: Mapping[str, tuple[str, str]] = {
    "prefix_hit_rate": ("prefix_hits", "prefix_queries"),
    "error_rate": ("errors", "requests"),
}
_GAUGES = ("running", "waiting", "kv_usage")
_OPTIONAL = tuple(
    name
    for name in WindowStats.model_fields
    if name.endswith(("_mean", "_p50", "_p90", "_p95", "_p99")) and name not in _RATIOS
)


def private_ip_key(instance: Instance) -> str | None:
    """The default key: Prometheus's `instance` label is `<ip>:<port>` for a target found by IP."""
    return instance.private_ip


def instance_id_key(instance: Instance) -> str | None:
    """For targets relabeled with the EC2 instance id (e.g. from `__meta_ec2_instance_id`)."""
    return instance.instance_id


class PrometheusWindowSource:
    """Builds the collector's `WindowStats` rows from Prometheus instead of scraping replicas."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        instance_label: str = "instance",
        window: timedelta = timedelta(seconds=60),
        instance_key: InstanceKey = private_ip_key,
        matchers: Mapping[str, str] | None = None,
    ) -> None:
        seconds = window.total_seconds()
        if seconds <= 0 or seconds != math.floor(seconds):
            raise ValueError("the window must be a positive whole number of seconds")
        self._base_url = base_url
        self._client = client
        self._label = check_label_name(instance_label)
        self._window = window
        self._key = instance_key
        self._matchers = dict(matchers or {})

    @property
    def window(self) -> timedelta:
        return self._window

    def selected(self, instances: Sequence[Instance]) -> dict[str, Instance]:
        """The running instances that have a key, by key: the ones whose series are asked for (the
        scrape path reads running instances only, too)."""
        chosen: dict[str, Instance] = {}
        for instance in instances:
            key = self._key(instance)
            if key and instance.state == "running":
                chosen.setdefault(key, instance)
        return chosen

    async def window_stats(
        self, customer_id: str, workload_id: str, instances: Sequence[Instance], now: datetime
    ) -> list[WindowStats]:
        """One row per selected instance that has any series in [now - window, now]; an instance
        Prometheus knows nothing about gets no row, so an unscraped replica never reads as idle."""
        by_key = self.selected(instances)
        if not by_key:
            return []
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        keys = "|".join(quote_meta(key) for key in sorted(by_key))
        results = await query_window_stats(
            self._base_url,
            self._matchers,
            now,
            now,
            self._window,
            self._client,
            window=self._window,
            by=(self._label,),
            regex_matchers={self._label: f"(?:{keys})(?::[0-9]+)?"},
        )
        seen: dict[str, set[str]] = {}  # instance id -> the label values of its series
        for series in (s for series_list in results.values() for s in series_list):
            value = series.labels.get(self._label, "")
            if (instance := self._instance_for(value, by_key)) is not None:
                seen.setdefault(instance.instance_id, set()).add(value)
        chosen = {iid: min(label_values) for iid, label_values in seen.items()}
        values: dict[str, dict[str, float]] = {iid: {} for iid in chosen}
        models: dict[str, str] = {}
        for field, series_list in results.items():
            for series in series_list:
                instance = self._instance_for(series.labels.get(self._label, ""), by_key)
                if instance is None or series.labels.get(self._label) != chosen[instance.instance_id]:
                    continue
                if field == "model_name":  # a model swapped within the window: the first name, sorted
                    name = series.labels.get("model_name", "")
                    models[instance.instance_id] = min(name, models.get(instance.instance_id, name))
                elif (latest := _latest(series)) is not None:
                    values[instance.instance_id][field] = latest
        start = now - self._window
        return [
            _row(customer_id, workload_id, iid, models.get(iid, ""), start, now, values[iid])
            for iid in (instance.instance_id for instance in by_key.values())
            if iid in values
        ]

    def _instance_for(self, label_value: str, by_key: Mapping[str, Instance]) -> Instance | None:
        if label_value in by_key:
            return by_key[label_value]
        host = _PORT_SUFFIX.match(label_value)
        return by_key.get(host.group(1)) if host else None


def _latest(series: PromSeries) -> float | None:
    """The value at the window's end; NaN (a quantile or ratio of nothing) and infinities count as
    missing, which `WindowStats` would refuse anyway."""
    if not series.points:
        return None
    value = series.points[-1][1]
    return value if math.isfinite(value) else None


def _row(
    customer_id: str,
    workload_id: str,
    replica: str,
    model_name: str,
    start: datetime,
    end: datetime,
    values: Mapping[str, float],
) -> WindowStats:
    seconds = (end - start).total_seconds()
    stats: dict[str, object] = {
        "customer_id": customer_id,
        "workload_id": workload_id,
        "replica": replica,
        "model_name": model_name,
        "window_start": start,
        "window_end": end,
        "counter_reset": values.get("counter_reset", 0.0) > 0,
    }
    counts: dict[str, float] = {}
    for rate_field, count_field in _RATE_COUNTS.items():
        rate = values.get(rate_field, 0.0)
        stats[rate_field] = rate
        counts[count_field] = rate * seconds
    for count_field in _DIRECT_COUNTS:
        counts[count_field] = values.get(count_field, 0.0)
    stats.update(counts)
    for ratio, (numerator, denominator) in _RATIOS.items():
        given = values.get(ratio)
        if given is None and counts[denominator] > 0:
            given = counts[numerator] / counts[denominator]
        stats[ratio] = given
    for gauge in _GAUGES:
        stats[gauge] = values.get(gauge, 0.0)
    for optional in _OPTIONAL:
        stats[optional] = values.get(optional)
    return WindowStats.model_validate(stats)
