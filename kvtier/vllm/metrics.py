"""kvtier's own figures on vLLM's `/metrics`: each tier's hits, demotions, evictions, corrupt blocks and
bytes moved (counters) and its occupancy (gauges), labelled by `tier`.

vLLM's offloading connector asks the spec class for its metric definitions
(`OffloadingSpec.build_metric_definitions`) and the scheduler-side manager for a stats payload every step
(`OffloadingManager.get_stats`); `KvtierMetrics` turns the store's cumulative counters into the deltas
that payload carries. Plain Python: the payload object is vLLM's `OffloadingConnectorStats` in a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kvtier.stats import StoreSnapshot, TierSnapshot

MetricKind = Literal["counter", "gauge"]


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    kind: MetricKind
    documentation: str
    read: Callable[[TierSnapshot], int]


METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "vllm:kvtier_hits", "counter", "Offloaded blocks kvtier served from this tier.", lambda t: t.hits
    ),
    MetricDefinition(
        "vllm:kvtier_demotions",
        "counter",
        "Blocks kvtier moved down out of this tier to make room.",
        lambda t: t.demotions,
    ),
    MetricDefinition(
        "vllm:kvtier_evictions",
        "counter",
        "Blocks kvtier dropped from the store out of this tier.",
        lambda t: t.evictions,
    ),
    MetricDefinition(
        "vllm:kvtier_corrupt_blocks",
        "counter",
        "Blocks of this tier that failed their checksum when read, and were dropped.",
        lambda t: t.corrupt,
    ),
    MetricDefinition(
        "vllm:kvtier_read_bytes", "counter", "Bytes kvtier read out of this tier.", lambda t: t.bytes_read
    ),
    MetricDefinition(
        "vllm:kvtier_written_bytes",
        "counter",
        "Bytes kvtier wrote into this tier.",
        lambda t: t.bytes_written,
    ),
    MetricDefinition(
        "vllm:kvtier_used_blocks", "gauge", "Blocks held in this tier.", lambda t: t.used_blocks
    ),
    MetricDefinition(
        "vllm:kvtier_capacity_blocks", "gauge", "Blocks this tier can hold.", lambda t: t.capacity_blocks
    ),
)

LABELS = ("tier",)


def metric_definitions(counter: Callable[..., Any], gauge: Callable[..., Any]) -> dict[str, Any]:
    """vLLM's metric metadata for every kvtier metric, built with its counter and gauge metadata classes
    (called with `documentation` and `labelnames`)."""
    return {
        metric.name: (counter if metric.kind == "counter" else gauge)(
            documentation=metric.documentation, labelnames=LABELS
        )
        for metric in METRICS
    }


class KvtierMetrics:
    """Reports a store's counters to vLLM's stats payload as per-step deltas (counters) and levels
    (gauges). `make_stats` builds an empty payload (vLLM's `OffloadingConnectorStats`)."""

    def __init__(self, make_stats: Callable[[], Any]) -> None:
        self._make_stats = make_stats
        self._reported: dict[tuple[str, str], int] = {}

    def report(self, snapshot: StoreSnapshot) -> Any:
        stats = self._make_stats()
        for tier in snapshot.tiers:
            labels = (tier.name,)
            for metric in METRICS:
                value = metric.read(tier)
                if metric.kind == "gauge":
                    stats.set_gauge(metric.name, value, labels)
                    continue
                key = (metric.name, tier.name)
                delta = value - self._reported.get(key, 0)
                self._reported[key] = value
                if delta:
                    stats.increase_counter(metric.name, delta, labels)
        return stats
