"""What every eviction policy shares: capacity, the prefix-chain rule, pins and the admission hook.

A policy is an index only (hashes, no data), so the same object decides a tier's evictions in the store
and replays a million-request trace in seconds. Subclasses implement four primitives over their own
queues (`_hit`, `_add`, `_victim`, `_drop`); this base keeps the set of cached blocks and turns the
primitives into the operations the store needs.

The prefix-chain rule: a block that is the parent of a cached block is never evicted before that child,
because a child is useless once its parent is gone (a prefix lookup stops at the first missing block).
Each cached parent carries a hold per cached child; pins (blocks being loaded or written) are holds too.
`_victim` only returns blocks without holds: chain tails. Since every chain has a tail and pins are
temporary, eviction can only fail when every cached block is pinned or is an ancestor of a pinned one.

Chains are stored tail first (`store` adds a run of new blocks in reverse), and `touch` refreshes a
request's blocks tail first, so in recency order a chain's head is always newer than its tail and the
queues' eviction ends are tails: the hold check rarely has to skip anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, Protocol

from kvtier.blocks import BlockHash


class AdmissionFilter(Protocol):
    """Decides whether a newcomer may replace the victim the policy picked (e.g. TinyLFU)."""

    name: str

    def record(self, key: BlockHash) -> None:
        """Counts one access of `key` (hit or miss)."""

    def admit(self, candidate: BlockHash, victim: BlockHash) -> bool:
        """True when `candidate` should be cached in place of `victim`."""


class EvictionPolicy(ABC):
    """A fixed-capacity set of block hashes with a replacement order.

    Public operations (each hash is one block):

    - `lookup(keys)`: how many leading keys are cached (read only);
    - `touch(keys)`: record a hit on each cached key, tail first;
    - `store(keys, parent)`: cache the run of keys that follows `parent` in a chain, evicting as needed;
      returns (stored, evicted). Keys are stored head first and the run stops at the first one that
      cannot be (refused by admission, or nothing left to evict), since its children would be orphans;
    - `pin(key)` / `unpin(key)`: holds that keep a block from being evicted;
    - `remove(key)`: drop a block now (a corrupt copy, a block moved to another tier).
    """

    name: ClassVar[str] = "policy"

    def __init__(self, capacity: int, admission: AdmissionFilter | None = None) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 blocks, got {capacity}")
        self.capacity = capacity
        self.admission = admission
        self.evictions = 0
        self.rejections = 0
        self._holds: dict[BlockHash, int] = {}
        """Per block: its cached children plus its pins. Kept for hashes no longer cached too (until zero),
        so that counts stay right when a removed parent comes back while its children are still cached."""
        self._parent: dict[BlockHash, BlockHash] = {}
        """Per cached block whose parent was cached when it was stored."""
        self._cached: set[BlockHash] = set()
        """Every cached block, whatever queue it is in: membership and size at C speed."""

    # --- the primitives each policy implements ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._cached)

    def __contains__(self, key: object) -> bool:
        return key in self._cached

    def __iter__(self) -> Iterator[BlockHash]:
        """The cached blocks, in no promised order."""
        return iter(list(self._cached))

    @abstractmethod
    def _hit(self, key: BlockHash) -> None:
        """A cached key was accessed."""

    @abstractmethod
    def _add(self, key: BlockHash) -> None:
        """Insert a key that is not cached; there is room."""

    @abstractmethod
    def _victim(self, incoming: BlockHash | None) -> BlockHash | None:
        """The block the policy would evict to make room for `incoming` (None: a plain eviction), among
        blocks without holds; None if there is none. May reorder the queues as the policy's own eviction
        would (e.g. S3-FIFO's promotions), but never removes a block."""

    @abstractmethod
    def _drop(self, key: BlockHash, evicted: bool) -> None:
        """Remove a cached key from the queues; `evicted` is True for a replacement (which may leave a
        ghost entry), False for an explicit removal."""

    _wants_misses: ClassVar[bool] = False
    """Whether `store` calls `_miss` (skipped otherwise: a call per block costs)."""

    def _miss(self, key: BlockHash) -> None:  # noqa: B027 - optional hook, a no-op by default
        """A key that is not cached is about to be stored (ARC adapts its target here)."""

    # --- shared operations ----------------------------------------------------------------------------------

    def lookup(self, keys: Sequence[BlockHash]) -> int:
        """The number of leading `keys` that are cached."""
        cached = self._cached
        count = 0
        for key in keys:
            if key not in cached:
                break
            count += 1
        return count

    def touch(self, keys: Sequence[BlockHash]) -> int:
        """Records a hit on every cached key, tail first so that the chain's head ends up the most recently
        used; returns how many were cached."""
        admission = self.admission
        cached = self._cached
        hit = self._hit
        touched = 0
        for key in reversed(keys):
            if key in cached:
                hit(key)
                if admission is not None:
                    admission.record(key)
                touched += 1
        return touched

    def store(
        self, keys: Sequence[BlockHash], parent: BlockHash | None = None
    ) -> tuple[list[BlockHash], list[BlockHash]]:
        """Caches the keys of `keys` that are not cached yet, head first, evicting as needed.

        `parent` is the block before `keys[0]` in its chain (None when `keys[0]` is a chain head); a run
        whose parent is not cached is not stored at all. Keys already cached are skipped and continue the
        chain. Returns (stored, evicted)."""
        stored: list[BlockHash] = []
        evicted: list[BlockHash] = []
        cached = self._cached
        if parent is not None and parent not in cached:
            return stored, evicted
        holds = self._holds
        parents = self._parent
        admission = self.admission
        capacity = self.capacity
        miss = self._miss if self._wants_misses else None
        drop = self._drop
        previous = parent
        for key in keys:
            if key in cached or key in parents:
                # cached, or repeated within this run: it continues the chain
                previous = key
                continue
            if admission is not None:
                admission.record(key)
            if miss is not None:
                miss(key)
            # the parent gets its hold first, so that making room cannot evict it
            if previous is not None:
                holds[previous] = holds.get(previous, 0) + 1
            if len(cached) + len(stored) >= capacity:
                victim = self._victim(key) if capacity else None
                if victim is None or (admission is not None and not admission.admit(key, victim)):
                    if previous is not None:
                        self._release(previous)
                    self.rejections += 1
                    break
                # inlined `_evict`: this is the replay's hottest path
                drop(victim, True)
                cached.discard(victim)
                victim_parent = parents.pop(victim, None)
                if victim_parent is not None:
                    remaining = holds[victim_parent] - 1
                    if remaining:
                        holds[victim_parent] = remaining
                    else:
                        del holds[victim_parent]
                evicted.append(victim)
            if previous is not None:
                parents[key] = previous
            stored.append(key)
            previous = key
        add = self._add
        for key in reversed(stored):
            add(key)
            cached.add(key)
        self.evictions += len(evicted)
        return stored, evicted

    def evict(self) -> BlockHash | None:
        """Evicts one block by the policy's order (for a tier shrinking or demoting); None if none can be."""
        victim = self._victim(None) if self._cached else None
        if victim is not None:
            self._evict(victim)
        return victim

    def remove(self, key: BlockHash) -> bool:
        """Drops `key` now, whatever its holds (its cached children become unreachable by prefix lookup and
        age out as tails); False if it was not cached."""
        if key not in self._cached:
            return False
        self._drop(key, False)
        self._cached.discard(key)
        self._forget(key)
        return True

    def pin(self, key: BlockHash) -> None:
        """Keeps a cached block from eviction until the matching `unpin`."""
        if key not in self._cached:
            raise KeyError(key)
        self._holds[key] = self._holds.get(key, 0) + 1

    def unpin(self, key: BlockHash) -> None:
        if key not in self._holds:
            raise KeyError(key)
        self._release(key)

    def holds(self, key: BlockHash) -> int:
        """Cached children plus pins of `key` (0: an eviction candidate, if cached)."""
        return self._holds.get(key, 0)

    def is_protected(self, key: BlockHash) -> bool:
        """Whether `key` has cached children or pins (and so is not an eviction candidate)."""
        return key in self._holds

    def parent_of(self, key: BlockHash) -> BlockHash | None:
        return self._parent.get(key)

    def _evict(self, key: BlockHash) -> None:
        self._drop(key, True)
        self._cached.discard(key)
        self._forget(key)
        self.evictions += 1

    def _forget(self, key: BlockHash) -> None:
        parent = self._parent.pop(key, None)
        if parent is not None:
            self._release(parent)

    def _release(self, key: BlockHash) -> None:
        remaining = self._holds[key] - 1
        if remaining:
            self._holds[key] = remaining
        else:
            del self._holds[key]

    def __repr__(self) -> str:
        suffix = f"+{self.admission.name}" if self.admission is not None else ""
        return f"<{type(self).__name__} {self.name}{suffix} {len(self)}/{self.capacity}>"
