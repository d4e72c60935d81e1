"""The host tier: one preallocated arena in DRAM, split into fixed-size slots."""

from __future__ import annotations

import contextlib
import mmap
import threading

import numpy as np

from kvtier.blocks import Buffer, WritableBuffer
from kvtier.tiers.base import U8Array, as_bytes_view, as_writable_view


class HostArena:
    """`slots` x `block_bytes` bytes allocated once, so a block store or load is one memcpy and never an
    allocation.

    The memory is faulted in up front (an anonymous mapping with MAP_POPULATE where the platform has it,
    else a zero fill): a first write to fresh pages costs several times the copy itself, and that cost
    belongs to start-up, not to the first blocks stored. With `pin_memory=True` the arena is page-locked
    through torch (imported only then), so a GPU can DMA from it directly.
    """

    name = "host"

    def __init__(self, slots: int, block_bytes: int, *, pin_memory: bool = False) -> None:
        if slots < 1 or block_bytes < 1:
            raise ValueError(f"a host arena needs slots and bytes per block, got {slots} x {block_bytes}")
        self.slots = slots
        self.block_bytes = block_bytes
        self.pinned = pin_memory
        self._mapping: mmap.mmap | None = None
        self._keepalive: object = None
        size = slots * block_bytes
        flat: U8Array
        if pin_memory:
            from kvtier.tiers.device import import_torch

            torch = import_torch(need_cuda=True)
            tensor = torch.zeros(size, dtype=torch.uint8, pin_memory=True)
            self._keepalive = tensor
            flat = tensor.numpy()
        elif hasattr(mmap, "MAP_POPULATE"):
            self._mapping = mmap.mmap(
                -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
            )
            flat = np.frombuffer(self._mapping, dtype=np.uint8)
        else:  # pragma: no cover - non-Linux
            flat = np.zeros(size, dtype=np.uint8)
            flat.fill(0)
        self._blocks: U8Array = flat.reshape(slots, block_bytes)
        self._closed = threading.Event()

    def view(self, slot: int) -> U8Array:
        """The slot's memory itself (no copy): valid while the slot holds the block it was asked for."""
        view: U8Array = self._blocks[slot]
        return view

    def write(self, slot: int, data: Buffer) -> None:
        np.copyto(self._blocks[slot], as_bytes_view(data, self.block_bytes))

    def read_into(self, slot: int, out: WritableBuffer) -> None:
        np.copyto(as_writable_view(out, self.block_bytes), self._blocks[slot])

    def read(self, slot: int) -> bytes:
        return bytes(memoryview(self._blocks[slot]))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._blocks = np.empty((0, self.block_bytes), dtype=np.uint8)
        self._keepalive = None
        if self._mapping is not None:
            with contextlib.suppress(BufferError):  # a caller still holds a view; it keeps the mapping
                self._mapping.close()
            self._mapping = None
