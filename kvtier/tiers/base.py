"""The arena protocol and buffer helpers shared by the tiers."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from kvtier.blocks import Buffer, WritableBuffer

U8Array = npt.NDArray[np.uint8]


class SlotArena(Protocol):
    name: str
    slots: int
    block_bytes: int

    def write(self, slot: int, data: Buffer) -> None:
        """Stores exactly `block_bytes` bytes in `slot`."""

    def read_into(self, slot: int, out: WritableBuffer) -> None:
        """Copies `slot` into `out` (exactly `block_bytes` bytes); raises `CorruptBlockError` when the
        arena checks integrity and the bytes are not what was written."""

    def read(self, slot: int) -> bytes:
        """A copy of `slot` (same checks as `read_into`)."""

    def close(self) -> None:
        """Releases the memory or file; the arena is unusable afterwards."""


def as_bytes_view(data: Buffer, length: int) -> U8Array:
    """A flat uint8 view of `data` without copying; it must be exactly `length` bytes."""
    array = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    if array.dtype != np.uint8:
        array = array.view(np.uint8)
    array = array.reshape(-1)
    if array.size != length:
        raise ValueError(f"a block is {length} bytes, got {array.size}")
    return array


def as_writable_view(out: WritableBuffer, length: int) -> U8Array:
    """A flat writable uint8 view of `out` without copying; it must be exactly `length` bytes."""
    array = as_bytes_view(out, length)
    if not array.flags.writeable:
        raise ValueError("the output buffer is read-only")
    return array
