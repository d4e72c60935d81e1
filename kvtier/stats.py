"""Per-tier counters and access latencies. The store updates them under its lock; `snapshot()` copies."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


class LatencyRecorder:
    """Count, total and maximum of every sample, plus a uniform reservoir (Vitter's algorithm R) of at most
    `reservoir` samples for percentiles: bounded memory whatever the number of accesses."""

    def __init__(self, reservoir: int = 2048, seed: int = 0) -> None:
        if reservoir < 1:
            raise ValueError(f"reservoir must hold at least one sample, got {reservoir}")
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self._capacity = reservoir
        self._samples: list[float] = []
        self._random = random.Random(seed)

    def record(self, seconds: float) -> None:
        self.count += 1
        self.total_s += seconds
        if seconds > self.max_s:
            self.max_s = seconds
        if len(self._samples) < self._capacity:
            self._samples.append(seconds)
        else:
            slot = self._random.randrange(self.count)
            if slot < self._capacity:
                self._samples[slot] = seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile (`q` in [0, 100]) of the reservoir; 0.0 before any sample."""
        if not 0.0 <= q <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {q}")
        if not self._samples:
            return 0.0
        ordered = sorted(self._samples)
        rank = max(1, -(-len(ordered) * q // 100))
        return ordered[int(rank) - 1]

    def snapshot(self, percentiles: bool = True) -> LatencySummary:
        """The summary; without `percentiles` (which sort the reservoir) p50 and p99 are NaN."""
        return LatencySummary(
            count=self.count,
            mean_s=self.total_s / self.count if self.count else 0.0,
            p50_s=self.percentile(50) if percentiles else math.nan,
            p99_s=self.percentile(99) if percentiles else math.nan,
            max_s=self.max_s,
        )


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    mean_s: float
    p50_s: float
    p99_s: float
    max_s: float


@dataclass(slots=True)
class TierStats:
    """Counters of one tier.

    - hits: reads served by this tier; misses: reads that looked here and did not find the block (a read
      served by the disk tier is a miss of the tiers above it; a block found nowhere misses every tier);
    - promotions: blocks moved up into this tier; demotions: blocks moved down out of it;
    - evictions: blocks dropped out of the store from this tier; corrupt: blocks whose checksum failed
      (dropped too, and their read counted as a miss);
    - bytes_read / bytes_written: bytes moved out of / into this tier's arena, for any reason.
    """

    name: str
    hits: int = 0
    misses: int = 0
    promotions: int = 0
    demotions: int = 0
    evictions: int = 0
    corrupt: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    read_latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    write_latency: LatencyRecorder = field(default_factory=LatencyRecorder)

    @property
    def hit_rate(self) -> float:
        looked = self.hits + self.misses
        return self.hits / looked if looked else 0.0

    def snapshot(
        self, used_blocks: int, capacity_blocks: int, block_bytes: int, percentiles: bool = True
    ) -> TierSnapshot:
        return TierSnapshot(
            name=self.name,
            used_blocks=used_blocks,
            capacity_blocks=capacity_blocks,
            used_bytes=used_blocks * block_bytes,
            capacity_bytes=capacity_blocks * block_bytes,
            hits=self.hits,
            misses=self.misses,
            hit_rate=self.hit_rate,
            promotions=self.promotions,
            demotions=self.demotions,
            evictions=self.evictions,
            corrupt=self.corrupt,
            bytes_read=self.bytes_read,
            bytes_written=self.bytes_written,
            read_latency=self.read_latency.snapshot(percentiles),
            write_latency=self.write_latency.snapshot(percentiles),
        )


@dataclass(frozen=True, slots=True)
class TierSnapshot:
    name: str
    used_blocks: int
    capacity_blocks: int
    used_bytes: int
    capacity_bytes: int
    hits: int
    misses: int
    hit_rate: float
    promotions: int
    demotions: int
    evictions: int
    corrupt: int
    bytes_read: int
    bytes_written: int
    read_latency: LatencySummary
    write_latency: LatencySummary


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """A consistent copy of the store's counters: `gets` = `hits` + `misses`; per tier in tier order."""

    gets: int
    hits: int
    misses: int
    puts: int
    stored: int
    tiers: tuple[TierSnapshot, ...]

    @property
    def hit_rate(self) -> float:
        return self.hits / self.gets if self.gets else 0.0

    def tier(self, name: str) -> TierSnapshot:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)
