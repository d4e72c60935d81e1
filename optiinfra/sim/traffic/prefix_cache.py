"""Replay of vLLM-style automatic prefix caching over a trace's block hashes, to price KV-cache capacity:
how much prefill a given number of cached blocks saves.

Counting: every prompt block is one query; the lookup walks the request's blocks in order and stops at the
first uncached one, because a block's KV is only reusable after its whole prefix. With unlimited capacity
this reproduces the Mooncake trace's published 36.6% block hit rate."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optiinfra.sim.traffic.models import Request


@dataclass(frozen=True, slots=True)
class PrefixReplayResult:
    block_queries: int
    block_hits: int
    evicted_blocks: int = 0

    @property
    def hit_rate(self) -> float:
        return self.block_hits / self.block_queries if self.block_queries else 0.0


class PrefixCache:
    """Cached block hashes in LRU order (least recent first); unbounded when `capacity_blocks` is None."""

    def __init__(self, capacity_blocks: int | None) -> None:
        if capacity_blocks is not None and capacity_blocks < 0:
            raise ValueError(f"capacity must be non-negative, got {capacity_blocks}")
        self.capacity_blocks = capacity_blocks
        self.evicted_blocks = 0
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, block_hash: int) -> bool:
        return block_hash in self._blocks

    def cached_prefix_length(self, block_hashes: Sequence[int]) -> int:
        """How many leading blocks are cached: the part of the prompt whose prefill is skipped."""
        length = 0
        for block_hash in block_hashes:
            if block_hash not in self._blocks:
                break
            length += 1
        return length

    def admit(self, block_hashes: Sequence[int]) -> None:
        """Mark a served request's blocks most recent. Like vLLM, they are released tail first, so a shared
        prefix outlives the request-specific suffix that follows it."""
        for block_hash in reversed(block_hashes):
            self._blocks[block_hash] = None
            self._blocks.move_to_end(block_hash)
        self._evict_over_capacity()

    def _evict_over_capacity(self) -> None:
        if self.capacity_blocks is None:
            return
        while len(self._blocks) > self.capacity_blocks:
            self._blocks.popitem(last=False)
            self.evicted_blocks += 1


def replay_prefix_hits(requests: Iterable[Request], capacity_blocks: int | None = None) -> PrefixReplayResult:
    """Serve the requests in order through one prefix cache and count block queries and hits."""
    cache = PrefixCache(capacity_blocks)
    queries = hits = 0
    for request in requests:
        blocks = request.block_hashes
        queries += len(blocks)
        hits += cache.cached_prefix_length(blocks)
        cache.admit(blocks)
    return PrefixReplayResult(block_queries=queries, block_hits=hits, evicted_blocks=cache.evicted_blocks)


def mean_reuse_gap_s(requests: Iterable[Request]) -> float | None:
    """Block-weighted mean time since a request's reusable prefix was last used: how long an unlimited
    cache had to keep that KV for the hit, so it says how much a bounded or tiered cache loses."""
    last_used_s: dict[int, float] = {}
    weighted_gap_s = 0.0
    hit_blocks = 0
    for request in requests:
        blocks = request.block_hashes
        prefix = 0
        while prefix < len(blocks) and blocks[prefix] in last_used_s:
            prefix += 1
        if prefix:
            weighted_gap_s += prefix * (request.arrival_s - last_used_s[blocks[prefix - 1]])
            hit_blocks += prefix
        last_used_s.update(dict.fromkeys(blocks, request.arrival_s))
    return weighted_gap_s / hit_blocks if hit_blocks else None
