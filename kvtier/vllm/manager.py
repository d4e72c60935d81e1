"""vLLM's scheduler-side `OffloadingManager` contract over a `TieredStore`.

`KvtierOffloadingManager` is plain Python: it builds vLLM's result objects through the constructors in
`OffloadTypes`, so it runs against fakes in tests and against vLLM's classes in a server.
`build_manager_class` mixes it into vLLM's abstract `OffloadingManager` when vLLM is present.

How the calls map (vLLM passes each request's block hashes head first, often as a one-shot iterator, so
every call materialises them once):

- `lookup` -> `TieredStore.lookup`;
- `prepare_load` -> `TieredStore.prepare_load` (pins), returning a `KvtierLoadStoreSpec` of the slots;
- `touch` -> `TieredStore.touch`;
- `complete_load` -> `TieredStore.complete_load`, passing as `corrupt` the blocks whose read the worker
  reported as failed, so a damaged disk block is dropped and never served again;
- `prepare_store` -> `TieredStore.prepare_store`: a `PrepareStoreOutput` of the reserved slots, or None
  when nothing could be reserved for blocks that are not cached yet (vLLM retries those later);
- `complete_store` -> `TieredStore.complete_store`; a block whose write the worker reported as failed is
  released even when vLLM says success;
- `take_events` -> the `OffloadingEvent`s (stored, evicted, dropped as corrupt) since the last call.

vLLM does not pass a block's parent, which kvtier's chain rule wants on `prepare_store` (it evicts a
chain's tail before its head). The manager learns parent links from the consecutive hashes of every call
it sees (vLLM touches a request's whole chain), and passes the parent of a store's first block when it is
known and still cached; otherwise the run is stored as a chain head, which is what vLLM needs anyway: its
lookups start after the prefix the GPU still holds, so a run whose parent left kvtier is still useful.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from kvtier.blocks import BlockHash, BlockLocation
from kvtier.store import TIER_ORDER, TieredStore
from kvtier.vllm.shared import FailedTransfers, StoreHandle

MEDIUM = "KVTIER"
"""The medium name of kvtier's load/store specs: vLLM routes a transfer to a handler by (src, dst) medium,
and reports it in KV cache events. Blocks move between kvtier's tiers without vLLM knowing, so they all
share one medium."""

_TIER_ID_SHIFT = 40


def encode_block_id(location: BlockLocation) -> int:
    """A number naming a slot across tiers, for vLLM code that counts or logs a spec's `block_ids`."""
    return (TIER_ORDER.index(location.tier) << _TIER_ID_SHIFT) | location.slot


def to_key(block_hash: object) -> BlockHash:
    """The kvtier key of a vLLM block hash: vLLM >= 0.11 hashes are bytes and pass through unchanged;
    older `BlockHash` tuples are keyed by their `hash_value`."""
    if isinstance(block_hash, bytes | int):
        return block_hash
    if isinstance(block_hash, bytearray | memoryview):
        return bytes(block_hash)
    value = getattr(block_hash, "hash_value", None)
    if value is not None:
        return to_key(value)
    raise TypeError(f"unsupported block hash {block_hash!r}: expected bytes or int")


class KvtierLoadStoreSpec:
    """Where a transfer reads or writes in kvtier: one `BlockLocation` (tier, slot) per offloaded block,
    in the order of the hashes it answers. `block_ids` mirrors vLLM's `BlockIDsLoadStoreSpec` (as encoded
    slot numbers) for vLLM code that counts blocks through it."""

    locations: tuple[BlockLocation, ...]
    block_ids: npt.NDArray[np.int64]

    def __init__(self, locations: Iterable[BlockLocation]) -> None:
        self.locations = tuple(locations)
        self.block_ids = np.array([encode_block_id(loc) for loc in self.locations], dtype=np.int64)

    @staticmethod
    def medium() -> str:
        return MEDIUM

    @property
    def num_blocks(self) -> int:
        return len(self.locations)

    def __repr__(self) -> str:
        return f"KvtierLoadStoreSpec({', '.join(f'{loc.tier}:{loc.slot}' for loc in self.locations)})"


@dataclass(frozen=True, slots=True)
class OffloadTypes:
    """The constructors of the objects a manager returns: vLLM's classes in a server, fakes in tests.
    `prepare_store_output` and `offloading_event` are called with vLLM's field names as keywords."""

    load_store_spec: Callable[[Sequence[BlockLocation]], Any]
    prepare_store_output: Callable[..., Any]
    offloading_event: Callable[..., Any]


class KvtierOffloadingManager:
    """vLLM's `OffloadingManager` operations over a shared `TieredStore` (see the module docstring).

    `block_size` is the offloaded block size in tokens (reported in events); `parent_memory` bounds the
    learned parent links (oldest forgotten first). Called from vLLM's scheduler thread only."""

    _PARENT_MEMORY_MIN: ClassVar[int] = 4096

    def __init__(
        self,
        handle: StoreHandle,
        offload_types: OffloadTypes,
        *,
        block_size: int,
        enable_events: bool = False,
        parent_memory: int | None = None,
    ) -> None:
        self.store: TieredStore = handle.store
        self._failures: FailedTransfers = handle.failures
        self._types = offload_types
        self.block_size = block_size
        self._events: list[Any] | None = [] if enable_events else None
        capacity = sum(tier.capacity_blocks for tier in self.store.stats().tiers)
        self._parent_memory = (
            parent_memory if parent_memory is not None else max(4 * capacity, self._PARENT_MEMORY_MIN)
        )
        self._parents: dict[BlockHash, BlockHash] = {}
        self._reserved: dict[BlockHash, BlockLocation] = {}
        """Blocks reserved by prepare_store and not yet completed, with their slots."""
        self._loading: dict[BlockHash, tuple[BlockLocation, int]] = {}
        """Blocks pinned by prepare_load: their slot and how many loads hold them."""

    # --- vLLM's OffloadingManager -------------------------------------------------------------------------

    def lookup(self, block_hashes: Iterable[Any]) -> int:
        keys = self._keys(block_hashes)
        return self.store.lookup(keys)

    def prepare_load(self, block_hashes: Iterable[Any]) -> Any:
        keys = self._keys(block_hashes)
        locations = self.store.prepare_load(keys)
        for key, location in zip(keys, locations, strict=True):
            _, count = self._loading.get(key, (location, 0))
            self._loading[key] = (location, count + 1)
        return self._types.load_store_spec(locations)

    def touch(self, block_hashes: Iterable[Any]) -> None:
        self.store.touch(self._keys(block_hashes))

    def complete_load(self, block_hashes: Iterable[Any]) -> None:
        pinned: list[BlockHash] = []
        corrupt: list[BlockHash] = []
        for key in self._keys(block_hashes, learn=False):
            entry = self._loading.get(key)
            if entry is None:
                continue  # not loaded through this manager: nothing to unpin
            location, count = entry
            if count > 1:
                self._loading[key] = (location, count - 1)
            else:
                del self._loading[key]
            if self._failures.take(location):
                corrupt.append(key)
            pinned.append(key)
        self.store.complete_load(pinned, corrupt=corrupt)
        if corrupt:
            self._event(corrupt, removed=True)

    def prepare_store(self, block_hashes: Iterable[Any]) -> Any | None:
        originals = list(block_hashes)
        keys = [to_key(block_hash) for block_hash in originals]
        self._learn(keys)
        original_of = dict(zip(keys, originals, strict=True))
        plan = self.store.prepare_store(keys, self._parent_of(keys[0]) if keys else None)
        for key, location in zip(plan.to_store, plan.locations, strict=True):
            self._reserved[key] = location
        if plan.evicted:
            self._event(plan.evicted, removed=True)
        if not plan.to_store and any(key not in self._reserved and key not in self.store for key in keys):
            return None  # vLLM: "the blocks cannot be stored" (every slot pinned, or refused by admission)
        return self._types.prepare_store_output(
            block_hashes_to_store=[original_of[key] for key in plan.to_store],
            store_spec=self._types.load_store_spec(plan.locations),
            block_hashes_evicted=list(plan.evicted),
        )

    def complete_store(self, block_hashes: Iterable[Any], success: bool = True) -> None:
        stored: list[BlockHash] = []
        failed: list[BlockHash] = []
        for key in self._keys(block_hashes, learn=False):
            location = self._reserved.pop(key, None)
            if location is None:
                continue  # already cached, or never reserved: kvtier ignores it too
            # take() even when success is False, so that a stale report cannot outlive the slot's use
            if self._failures.take(location) or not success:
                failed.append(key)
            else:
                stored.append(key)
        if failed:
            self.store.complete_store(failed, success=False)
        if stored:
            self.store.complete_store(stored, success=True)
            self._event(stored, removed=False)

    def take_events(self) -> Iterable[Any]:
        """The events since the last call (none unless the manager was built with `enable_events`)."""
        if not self._events:
            return []
        events, self._events = self._events, []
        return events

    # --- inspection ----------------------------------------------------------------------------------------

    @property
    def reserved(self) -> int:
        """Blocks reserved by prepare_store and not yet completed."""
        return len(self._reserved)

    @property
    def loading(self) -> int:
        """Blocks pinned by prepare_load and not yet completed."""
        return len(self._loading)

    # --- internals -----------------------------------------------------------------------------------------

    def _keys(self, block_hashes: Iterable[Any], *, learn: bool = True) -> list[BlockHash]:
        keys = [to_key(block_hash) for block_hash in block_hashes]
        if learn:
            self._learn(keys)
        return keys

    def _learn(self, keys: Sequence[BlockHash]) -> None:
        parents = self._parents
        for parent, child in itertools.pairwise(keys):
            if parents.get(child) != parent:
                parents[child] = parent
        excess = len(parents) - self._parent_memory
        if excess > 0:
            for stale in list(parents)[:excess]:  # dicts keep insertion order: forget the oldest links
                del parents[stale]

    def _parent_of(self, key: BlockHash) -> BlockHash | None:
        parent = self._parents.get(key)
        if parent is None:
            return None
        if parent in self._reserved or parent in self.store:
            return parent
        return None  # the parent left kvtier: store the run as a new chain head

    def _event(self, keys: Sequence[BlockHash], *, removed: bool) -> None:
        if self._events is not None:
            self._events.append(
                self._types.offloading_event(
                    block_hashes=list(keys), block_size=self.block_size, medium=MEDIUM, removed=removed
                )
            )


def build_load_store_spec_class(base: Any) -> type[KvtierLoadStoreSpec]:
    """`KvtierLoadStoreSpec` as a subclass of vLLM's `BlockIDsLoadStoreSpec` (or `LoadStoreSpec`), which
    vLLM's connector checks for with isinstance in 0.12."""
    built: type[KvtierLoadStoreSpec] = types.new_class("KvtierLoadStoreSpec", (KvtierLoadStoreSpec, base))
    built.__module__ = __name__
    built.__doc__ = KvtierLoadStoreSpec.__doc__
    return built


def build_manager_class(base: Any) -> type[KvtierOffloadingManager]:
    """`KvtierOffloadingManager` as a subclass of vLLM's abstract `OffloadingManager`."""
    built: type[KvtierOffloadingManager] = types.new_class(
        "KvtierOffloadingManager", (KvtierOffloadingManager, base)
    )
    built.__module__ = __name__
    built.__doc__ = KvtierOffloadingManager.__doc__
    return built
