"""The one `TieredStore` that vLLM's scheduler side and worker side share, and how they find it.

vLLM builds the offloading spec twice, once per connector role, and the two halves never talk directly:
the scheduler's manager hands out slots, the worker's handler copies bytes into them. vLLM's own CPU
backend splits index and data across processes; a `TieredStore` holds both (its demotions copy bytes
while it updates the index), so both halves must use the same object, in one process. vLLM's engine core
builds the worker's KV caches before its scheduler (EngineCore creates the executor, initialises the KV
caches, then the Scheduler), so the worker side opens the store, sized from the KV tensors, and the
scheduler side finds it here by its configuration.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from kvtier.blocks import BlockLocation
from kvtier.store import TieredStore


class FailedTransfers:
    """Slots whose copy failed on the worker side (a checksum mismatch on a load, an I/O error), reported
    by the handler and consumed by the manager when vLLM completes the load or store. The worker's job
    result alone cannot say which block failed, and vLLM passes only block hashes back to the manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: set[BlockLocation] = set()

    def report(self, location: BlockLocation) -> None:
        with self._lock:
            self._failed.add(location)

    def take(self, location: BlockLocation) -> bool:
        """Whether a failure was reported for `location` since the last `take`; clears it."""
        with self._lock:
            if location in self._failed:
                self._failed.discard(location)
                return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._failed.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._failed)


@dataclass(slots=True)
class StoreHandle:
    """A store plus the failure reports its two users exchange."""

    store: TieredStore
    failures: FailedTransfers = field(default_factory=FailedTransfers)


_lock = threading.Lock()
_handles: dict[Hashable, StoreHandle] = {}
_atexit_registered = False


def open_shared_store(key: Hashable, block_bytes: int, factory: Callable[[int], TieredStore]) -> StoreHandle:
    """The process's store for `key`, built by `factory(block_bytes)` on first use. A second opener must
    agree on the block size: two KV layouts cannot share slots."""
    global _atexit_registered
    with _lock:
        handle = _handles.get(key)
        if handle is not None:
            if handle.store.block_bytes != block_bytes:
                raise ValueError(
                    f"the kvtier store for this configuration holds {handle.store.block_bytes}-byte blocks, "
                    f"but this KV cache needs {block_bytes}-byte blocks"
                )
            return handle
        handle = StoreHandle(factory(block_bytes))
        _handles[key] = handle
        if not _atexit_registered:
            atexit.register(close_shared_stores)  # deletes the disk tier's file
            _atexit_registered = True
        return handle


def find_shared_store(key: Hashable) -> StoreHandle | None:
    with _lock:
        return _handles.get(key)


def close_shared_stores() -> None:
    """Closes every shared store (waiting for their transfers) and forgets them."""
    with _lock:
        handles = list(_handles.values())
        _handles.clear()
    for handle in handles:
        handle.store.close()
