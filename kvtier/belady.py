"""Belady's offline optimum (farthest next use) for the replay of `kvtier.replay`: the hit-rate bound no
eviction policy, with or without admission, can beat on the same trace and capacity.

The replay's model: before request r the cache holds a set S; r hits the blocks of its chain that are in S;
afterwards the cache may hold any set of at most `capacity` blocks from S and r's chain. Keeping the
`capacity` blocks whose next request comes soonest, and nothing that is never requested again (bypass),
maximises hits (the classic exchange argument for MIN). Next use is ordered by (request, position in its
chain): a block's parent precedes it in every request that contains it, so a parent always ranks before
its child, the kept blocks of a chain form a prefix, and counting leading hits counts every hit.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence

from kvtier.blocks import BlockHash
from kvtier.replay import ReplayResult

NEVER = 1 << 62
"""Next-use index of a block that is not requested again."""


class BeladyOracle:
    """Precomputes every access's next use once, then replays any capacity."""

    def __init__(self, chains: Sequence[Sequence[BlockHash]]) -> None:
        self.chains = chains
        total = sum(len(chain) for chain in chains)
        next_use = [NEVER] * total
        last_seen: dict[BlockHash, int] = {}
        index = total
        for chain in reversed(chains):
            for key in reversed(chain):
                index -= 1
                next_use[index] = last_seen.get(key, NEVER)
                last_seen[key] = index
        self._next_use = next_use
        self.accesses = total

    def replay(self, capacity: int) -> ReplayResult:
        next_use = self._next_use
        cached: dict[BlockHash, int] = {}
        heap: list[tuple[int, BlockHash]] = []
        push, pop = heapq.heappush, heapq.heappop
        hits = index = 0
        started = time.perf_counter()
        for chain in self.chains:
            for key in chain:
                if key not in cached:
                    break
                hits += 1
            for key in chain:
                upcoming = next_use[index]
                index += 1
                if upcoming == NEVER:
                    cached.pop(key, None)
                else:
                    cached[key] = upcoming
                    push(heap, (-upcoming, key))
            while len(cached) > capacity:
                negative, key = pop(heap)
                if cached.get(key) == -negative:
                    del cached[key]
            if len(heap) > 4 * capacity + 1024:
                heap = [(-upcoming, key) for key, upcoming in cached.items()]
                heapq.heapify(heap)
        elapsed = time.perf_counter() - started
        return ReplayResult("belady", capacity, len(self.chains), self.accesses, hits, self.accesses, elapsed)


def belady(chains: Sequence[Sequence[BlockHash]], capacity: int) -> ReplayResult:
    return BeladyOracle(chains).replay(capacity)
