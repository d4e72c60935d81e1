"""S3-FIFO (Yang et al., SOSP'23): a small FIFO that filters one-hit wonders, a main FIFO, a ghost FIFO."""

from __future__ import annotations

from collections import OrderedDict

from kvtier.blocks import BlockHash
from kvtier.policies.base import AdmissionFilter, EvictionPolicy

MAX_FREQUENCY = 3
"""Access counts saturate here (two bits in the paper)."""


class S3FifoPolicy(EvictionPolicy):
    """New blocks enter the small queue S (`small_ratio` of the capacity). When S is over its share its
    oldest block moves to the main queue M if it was hit at least `promote_after` times while in S, else
    it is evicted and remembered in the ghost queue G (as many keys as M holds); a miss found in G goes
    straight to M. M is a FIFO with reinsertion: its oldest block is evicted if its count is zero, else
    reinserted with the count decremented (the paper's CLOCK-like second chance).

    Chain protection: a protected block (parent of a cached block, or pinned) at the end of S moves to M,
    and at the end of M is reinserted, as if it had been hit.
    """

    name = "s3fifo"

    def __init__(
        self,
        capacity: int,
        admission: AdmissionFilter | None = None,
        *,
        small_ratio: float = 0.1,
        promote_after: int = 1,
    ) -> None:
        super().__init__(capacity, admission)
        if not 0.0 < small_ratio < 1.0:
            raise ValueError(f"small_ratio must be in (0, 1), got {small_ratio}")
        self.small_target = max(1, round(capacity * small_ratio))
        self.ghost_capacity = max(1, capacity - self.small_target)
        self.promote_after = promote_after
        self._small: OrderedDict[BlockHash, int] = OrderedDict()
        self._main: OrderedDict[BlockHash, int] = OrderedDict()
        self._ghost: OrderedDict[BlockHash, None] = OrderedDict()

    def _hit(self, key: BlockHash) -> None:
        queue = self._small if key in self._small else self._main
        frequency = queue[key]
        if frequency < MAX_FREQUENCY:
            queue[key] = frequency + 1

    def _add(self, key: BlockHash) -> None:
        if key in self._ghost:
            del self._ghost[key]
            self._main[key] = 0
        else:
            self._small[key] = 0

    def _victim(self, incoming: BlockHash | None) -> BlockHash | None:
        small, main, holds = self._small, self._main, self._holds
        # every block can be rotated at most MAX_FREQUENCY times for its count, plus once more if it is
        # protected; past that, everything left is protected
        budget = (MAX_FREQUENCY + 2) * (len(small) + len(main)) + 1
        while budget > 0:
            budget -= 1
            if small and (len(small) >= self.small_target or not main):
                key, frequency = next(iter(small.items()))
                if frequency >= self.promote_after or key in holds:
                    del small[key]
                    main[key] = 0
                    continue
                return key
            if not main:
                return None
            key, frequency = next(iter(main.items()))
            if frequency > 0:
                main.move_to_end(key)
                main[key] = frequency - 1
                continue
            if key in holds:
                main.move_to_end(key)
                continue
            return key
        return None

    def _drop(self, key: BlockHash, evicted: bool) -> None:
        if key in self._small:
            del self._small[key]
            if evicted:
                ghost = self._ghost
                ghost[key] = None
                if len(ghost) > self.ghost_capacity:
                    ghost.popitem(last=False)
        else:
            del self._main[key]

    def queue_of(self, key: BlockHash) -> str | None:
        """ "small", "main", "ghost" or None, for tests and diagnostics."""
        if key in self._small:
            return "small"
        if key in self._main:
            return "main"
        if key in self._ghost:
            return "ghost"
        return None
