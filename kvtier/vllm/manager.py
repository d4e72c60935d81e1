"""vLLM's scheduler-side `OffloadingManager` contract (vLLM 0.32) over a `TieredStore`.

`KvtierOffloadingManager` is plain Python: it builds vLLM's result objects through the constructors in
`OffloadTypes`, so it runs over vLLM's classes in a server and over stand-ins in the fast unit tests.
`kvtier.vllm.spec` mixes it into vLLM's abstract `OffloadingManager` when vLLM is present.

vLLM names each offloaded chunk by an `OffloadKey` (its block hash and KV cache group, as bytes); kvtier
keys blocks by those bytes. How the calls map:

- `lookup(key)` -> HIT when the store holds the block, HIT_PENDING while a store of it is in flight (vLLM
  asks again on a later step), else MISS;
- `get_load_source(key)` -> the tier the block sits in ("host" or "disk"), which vLLM counts in
  `vllm:prompt_tokens_cached_by_source{source=...}`;
- `prepare_load` -> `TieredStore.prepare_load` (pins), returning a `KvtierLoadStoreSpec` of the slots;
- `touch` -> `TieredStore.touch`;
- `complete_load` -> `TieredStore.complete_load`, passing as `corrupt` the blocks whose read the worker
  reported as failed, so a damaged disk block is dropped and never served again;
- `prepare_store` -> `TieredStore.prepare_store`: a `PrepareStoreOutput` of the reserved slots, or None
  when nothing could be reserved for blocks that are not cached yet (vLLM retries those later);
- `complete_store` -> `TieredStore.complete_store`; a block whose write the worker reported as failed is
  released even when vLLM says success;
- `take_events` -> the `OffloadingEvent`s (stored, evicted, dropped as corrupt) since the last call;
- `get_stats` -> kvtier's per-tier counters for vLLM's `/metrics` (`kvtier.vllm.metrics`).

kvtier's chain rule wants a stored run's parent (it evicts a chain's tail before its head). vLLM records
in each request's `ReqContext` the token position that ends every key, so the parent is the request's
key one chunk earlier; when it is unknown or already left kvtier the run is stored as a chain head, which
is what vLLM needs anyway: its lookups start after the prefix the GPU still holds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kvtier.blocks import BlockHash, BlockLocation
from kvtier.store import TieredStore
from kvtier.vllm.metrics import KvtierMetrics
from kvtier.vllm.shared import FailedTransfers, StoreHandle


def to_key(key: object) -> BlockHash:
    """The kvtier key of a vLLM `OffloadKey` (bytes: the block hash, then the KV cache group)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, bytearray | memoryview):
        return bytes(key)
    raise TypeError(f"unsupported offload key {key!r}: expected bytes")


class KvtierLoadStoreSpec:
    """Where a transfer reads or writes in kvtier: one `BlockLocation` (tier, slot) per offloaded block,
    in the order of the keys it answers. Plain data, so it crosses vLLM's scheduler-to-worker metadata."""

    locations: tuple[BlockLocation, ...]

    def __init__(self, locations: Iterable[BlockLocation]) -> None:
        self.locations = tuple(locations)

    @property
    def num_blocks(self) -> int:
        return len(self.locations)

    def __repr__(self) -> str:
        return f"KvtierLoadStoreSpec({', '.join(f'{loc.tier}:{loc.slot}' for loc in self.locations)})"


@dataclass(frozen=True, slots=True)
class OffloadTypes:
    """The constructors and enums a manager answers with: vLLM's classes in a server, stand-ins in unit
    tests. `prepare_store_output` and `offloading_event` are called with vLLM's field names as keywords;
    `lookup_result` has vLLM's MISS / HIT / HIT_PENDING members; `hit_sources` maps a tier name to the
    `CacheHitSource` reported for a hit served from it; `make_stats` builds vLLM's per-step stats payload
    (None: the manager reports no metrics)."""

    load_store_spec: Callable[[Sequence[BlockLocation]], Any]
    prepare_store_output: Callable[..., Any]
    offloading_event: Callable[..., Any]
    lookup_result: Any
    request_offloading_context: Callable[[], Any]
    event_medium: Any
    hit_sources: Mapping[str, Any]
    make_stats: Callable[[], Any] | None = None


@dataclass(slots=True)
class _RequestChain:
    """One request's offload keys: by the token position that ends them, so the manager can name a stored
    run's parent (the key one chunk before it), and every key it used, in the order it first did."""

    keys_by_end: dict[int, BlockHash] = field(default_factory=dict)
    used: dict[BlockHash, None] = field(default_factory=dict)


class KvtierOffloadingManager:
    """vLLM's `OffloadingManager` operations over a shared `TieredStore` (see the module docstring).

    `chunk_tokens` is the offloaded block size in tokens (one `OffloadKey` covers that many). Called from
    vLLM's scheduler thread only."""

    def __init__(
        self,
        handle: StoreHandle,
        offload_types: OffloadTypes,
        *,
        chunk_tokens: int,
        enable_events: bool = False,
    ) -> None:
        self.store: TieredStore = handle.store
        self._failures: FailedTransfers = handle.failures
        self._types = offload_types
        self.chunk_tokens = chunk_tokens
        self._events: list[Any] | None = [] if enable_events else None
        self._reserved: dict[BlockHash, BlockLocation] = {}
        """Blocks reserved by prepare_store and not yet completed, with their slots."""
        self._loading: dict[BlockHash, tuple[BlockLocation, int]] = {}
        """Blocks pinned by prepare_load: their slot and how many loads hold them."""
        self._metrics = KvtierMetrics(offload_types.make_stats) if offload_types.make_stats else None

    # --- vLLM's OffloadingManager -------------------------------------------------------------------------

    def on_new_request(self, req_context: Any) -> Any:
        self._chain(req_context)
        return self._types.request_offloading_context()

    def lookup(self, key: Any, req_context: Any) -> Any:
        block = to_key(key)
        self._remember(block, req_context)
        results = self._types.lookup_result
        if block in self._reserved:
            return results.HIT_PENDING  # being written: vLLM asks again on a later step
        return results.HIT if self.store.lookup([block]) else results.MISS

    def get_load_source(self, key: Any, req_context: Any) -> Any:
        location = self.store.location(to_key(key))
        tier = location.tier if location is not None else "host"
        return self._types.hit_sources[tier]

    def prepare_load(self, keys: Collection[Any], req_context: Any) -> Any:
        blocks = [to_key(key) for key in keys]
        locations = self.store.prepare_load(blocks)
        for block, location in zip(blocks, locations, strict=True):
            _, count = self._loading.get(block, (location, 0))
            self._loading[block] = (location, count + 1)
        return self._types.load_store_spec(locations)

    def touch(self, keys: Collection[Any], req_context: Any) -> None:
        self.store.touch([to_key(key) for key in keys])

    def complete_load(self, keys: Collection[Any], req_context: Any) -> None:
        pinned: list[BlockHash] = []
        corrupt: list[BlockHash] = []
        for block in (to_key(key) for key in keys):
            entry = self._loading.get(block)
            if entry is None:
                continue  # not loaded through this manager: nothing to unpin
            location, count = entry
            if count > 1:
                self._loading[block] = (location, count - 1)
            else:
                del self._loading[block]
            if self._failures.take(location):
                corrupt.append(block)
            pinned.append(block)
        self.store.complete_load(pinned, corrupt=corrupt)
        if corrupt:
            self._event(corrupt, removed=True)

    def prepare_store(self, keys: Collection[Any], req_context: Any) -> Any | None:
        originals = list(keys)
        blocks = [to_key(key) for key in originals]
        for block in blocks:
            self._remember(block, req_context)
        original_of = dict(zip(blocks, originals, strict=True))
        parent = self._parent_of(blocks[0], req_context) if blocks else None
        plan = self.store.prepare_store(blocks, parent)
        for block, location in zip(plan.to_store, plan.locations, strict=True):
            self._reserved[block] = location
        if plan.evicted:
            self._event(plan.evicted, removed=True)
        if not plan.to_store and any(
            block not in self._reserved and block not in self.store for block in blocks
        ):
            return None  # vLLM: "the blocks cannot be stored" (every slot pinned, or refused by admission)
        return self._types.prepare_store_output(
            keys_to_store=[original_of[block] for block in plan.to_store],
            store_spec=self._types.load_store_spec(plan.locations),
            evicted_keys=list(plan.evicted),
        )

    def complete_store(self, keys: Collection[Any], req_context: Any, success: bool = True) -> None:
        stored: list[BlockHash] = []
        failed: list[BlockHash] = []
        for block in (to_key(key) for key in keys):
            location = self._reserved.pop(block, None)
            if location is None:
                continue  # already cached, or never reserved: kvtier ignores it too
            # take() even when success is False, so that a stale report cannot outlive the slot's use
            if self._failures.take(location) or not success:
                failed.append(block)
            else:
                stored.append(block)
        if failed:
            self.store.complete_store(failed, success=False)
        if stored:
            self.store.complete_store(stored, success=True)
            self._event(stored, removed=False)

    def on_request_finished(self, req_context: Any) -> None:
        """Marks every block the request used (looked up or stored) as used now, head first: vLLM 0.32's
        connector never calls `touch`, so this is where a hit refreshes its block in the tiers' policies
        (an LRU would otherwise evict by insertion order)."""
        chain: _RequestChain | None = req_context.get_state(_RequestChain)
        if chain is None:
            return
        position = {block: end for end, block in chain.keys_by_end.items()}
        used = list(chain.used)
        if all(block in position for block in used):
            used.sort(key=position.__getitem__)
        self.store.touch(used)
        chain.keys_by_end.clear()
        chain.used.clear()

    def take_events(self) -> Iterable[Any]:
        """The events since the last call (none unless the manager was built with `enable_events`)."""
        if not self._events:
            return []
        events, self._events = self._events, []
        return events

    def get_stats(self) -> Any | None:
        """kvtier's per-tier figures since the last call, as vLLM's stats payload (kvtier.vllm.metrics)."""
        if self._metrics is None:
            return None
        return self._metrics.report(self.store.stats(percentiles=False))  # vLLM asks every step

    def reset_cache(self) -> None:
        """vLLM's prefix-cache reset: it will not complete the loads and stores it issued before, so their
        pins are released here (stores as failed). The cached blocks stay: they are keyed by content, so a
        later request still reads correct KV from them."""
        self.store.complete_load([block for block, (_, count) in self._loading.items() for _ in range(count)])
        self._loading.clear()
        if self._reserved:
            self.store.complete_store(list(self._reserved), success=False)
            self._reserved.clear()
        self._failures.clear()  # reports about jobs vLLM will never complete must not hit reused slots

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

    def _chain(self, req_context: Any) -> _RequestChain:
        chain: _RequestChain | None = req_context.get_state(_RequestChain)
        if chain is None:
            chain = _RequestChain()
            req_context.set_state(chain)
        return chain

    def _remember(self, block: BlockHash, req_context: Any) -> None:
        chain = self._chain(req_context)
        chain.used[block] = None
        end = req_context.get_offload_key_position(block)
        if end is not None:
            chain.keys_by_end[int(end)] = block

    def _parent_of(self, block: BlockHash, req_context: Any) -> BlockHash | None:
        end = req_context.get_offload_key_position(block)
        if end is None:
            return None
        parent = self._chain(req_context).keys_by_end.get(int(end) - self.chunk_tokens)
        if parent is not None and (parent in self._reserved or parent in self.store):
            return parent
        return None  # no parent, or it left kvtier: store the run as a new chain head

    def _event(self, blocks: Sequence[BlockHash], *, removed: bool) -> None:
        if self._events is not None:
            self._events.append(
                self._types.offloading_event(
                    keys=list(blocks), medium=self._types.event_medium, removed=removed
                )
            )
