"""Least recently used: one ordered dict, oldest first."""

from __future__ import annotations

from collections import OrderedDict

from kvtier.blocks import BlockHash
from kvtier.policies.base import AdmissionFilter, EvictionPolicy


class LruPolicy(EvictionPolicy):
    """Evicts the least recently used chain tail. With chains stored and touched tail first (see the base),
    the oldest entry is a tail except right after pins, so the scan in `_victim` is almost always one step."""

    name = "lru"

    def __init__(self, capacity: int, admission: AdmissionFilter | None = None) -> None:
        super().__init__(capacity, admission)
        self._order: OrderedDict[BlockHash, None] = OrderedDict()

    def _hit(self, key: BlockHash) -> None:
        self._order.move_to_end(key)

    def _add(self, key: BlockHash) -> None:
        self._order[key] = None

    def _victim(self, incoming: BlockHash | None) -> BlockHash | None:
        holds = self._holds
        for key in self._order:
            if key not in holds:
                return key
        return None

    def _drop(self, key: BlockHash, evicted: bool) -> None:
        del self._order[key]
