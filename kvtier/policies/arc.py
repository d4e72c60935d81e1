"""ARC, the adaptive replacement cache (Megiddo & Modha, FAST'03)."""

from __future__ import annotations

from collections import OrderedDict

from kvtier.blocks import BlockHash
from kvtier.policies.base import AdmissionFilter, EvictionPolicy


class ArcPolicy(EvictionPolicy):
    """Two LRU lists, T1 (seen once recently) and T2 (seen at least twice), with ghost lists B1 and B2 of
    the keys recently evicted from each. A miss that hits B1 means T1 was too small: the target size `p`
    of T1 grows; a B2 hit shrinks it. `_victim` is the paper's REPLACE: T1's LRU while T1 is over `p`,
    else T2's; among chain tails only (a protected LRU entry is skipped, then the other list is tried).

    As in most implementations, an evicted key always leaves a ghost and the ghosts are trimmed to keep
    |T1| + |B1| <= c and |T1| + |T2| + |B1| + |B2| <= 2c, which folds the paper's case IV into REPLACE.
    """

    name = "arc"
    _wants_misses = True

    def __init__(self, capacity: int, admission: AdmissionFilter | None = None) -> None:
        super().__init__(capacity, admission)
        self._t1: OrderedDict[BlockHash, None] = OrderedDict()
        self._t2: OrderedDict[BlockHash, None] = OrderedDict()
        self._b1: OrderedDict[BlockHash, None] = OrderedDict()
        self._b2: OrderedDict[BlockHash, None] = OrderedDict()
        self.p = 0.0
        """Target size of T1, adapted on ghost hits."""

    def _hit(self, key: BlockHash) -> None:
        if key in self._t1:
            del self._t1[key]
            self._t2[key] = None
        else:
            self._t2.move_to_end(key)

    def _miss(self, key: BlockHash) -> None:
        b1, b2 = self._b1, self._b2
        if key in b1:
            self.p = min(float(self.capacity), self.p + max(len(b2) / len(b1), 1.0))
            b1.move_to_end(key)  # the ghost entry must survive trimming until `_add`
        elif key in b2:
            self.p = max(0.0, self.p - max(len(b1) / len(b2), 1.0))
            b2.move_to_end(key)

    def _add(self, key: BlockHash) -> None:
        if key in self._b1:
            del self._b1[key]
            self._t2[key] = None
        elif key in self._b2:
            del self._b2[key]
            self._t2[key] = None
        else:
            self._t1[key] = None
            b1 = self._b1
            if b1 and len(self._t1) + len(b1) > self.capacity:
                b1.popitem(last=False)

    def _victim(self, incoming: BlockHash | None) -> BlockHash | None:
        t1, t2 = self._t1, self._t2
        size = len(t1)
        if size and (size > self.p or (size == self.p and incoming is not None and incoming in self._b2)):
            first, second = t1, t2
        else:
            first, second = t2, t1
        holds = self._holds
        for queue in (first, second):
            for key in queue:
                if key not in holds:
                    return key
        return None

    def _drop(self, key: BlockHash, evicted: bool) -> None:
        # Each call adds at most one ghost, so one pop per bound keeps |T1| + |B1| <= c and
        # |T1| + |T2| + |B1| + |B2| <= 2c (`_add` keeps the first when T1 grows).
        t1, b1, b2 = self._t1, self._b1, self._b2
        if key in t1:
            del t1[key]
            if not evicted:
                return
            b1[key] = None
            if len(t1) + len(b1) > self.capacity:
                b1.popitem(last=False)
        else:
            del self._t2[key]
            if not evicted:
                return
            b2[key] = None
        if len(t1) + len(self._t2) + len(b1) + len(b2) > 2 * self.capacity:
            (b2 if b2 else b1).popitem(last=False)

    @property
    def ghosts(self) -> tuple[int, int]:
        """Sizes of B1 and B2."""
        return len(self._b1), len(self._b2)

    def in_t2(self, key: BlockHash) -> bool:
        """Whether `key` is in the frequency list (seen at least twice), for tests and diagnostics."""
        return key in self._t2
