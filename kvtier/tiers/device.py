"""The device tier: block slots in GPU memory, through torch, which is imported only when this tier (or
pinned host memory) is configured. kvtier itself never depends on torch."""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

import numpy as np

from kvtier.blocks import Buffer, DeviceTierUnavailableError, WritableBuffer
from kvtier.tiers.base import as_bytes_view, as_writable_view


def import_torch(*, need_cuda: bool) -> ModuleType:
    """torch, or a `DeviceTierUnavailableError` that says what is missing."""
    try:
        torch = importlib.import_module("torch")
    except ImportError as error:
        raise DeviceTierUnavailableError(
            "the device tier (and pinned host memory) needs torch with CUDA, which is not installed: "
            "install torch, or configure only host and disk tiers"
        ) from error
    if need_cuda and not torch.cuda.is_available():
        raise DeviceTierUnavailableError(
            "the device tier (and pinned host memory) needs a CUDA device, and torch sees none: "
            "configure only host and disk tiers on this machine"
        )
    return torch


class DeviceArena:
    """`slots` x `block_bytes` bytes in one uint8 CUDA tensor. Transfers go through a pinned staging block
    (one at a time, under a lock) so a copy from pageable memory never blocks on a driver bounce buffer.
    `tensor(slot)` hands an integrator the slot itself, to copy to or from its own GPU tensors."""

    name = "device"

    def __init__(self, slots: int, block_bytes: int, *, device: str = "cuda") -> None:
        if slots < 1 or block_bytes < 1:
            raise ValueError(f"a device arena needs slots and bytes per block, got {slots} x {block_bytes}")
        torch = import_torch(need_cuda=True)
        self.slots = slots
        self.block_bytes = block_bytes
        self.device = device
        self._blocks: Any = torch.empty((slots, block_bytes), dtype=torch.uint8, device=device)
        self._staging: Any = torch.empty(block_bytes, dtype=torch.uint8, pin_memory=True)
        self._staging_array = self._staging.numpy()
        self._lock = threading.Lock()

    def tensor(self, slot: int) -> Any:
        """The slot's device memory (a uint8 CUDA tensor view, no copy)."""
        return self._blocks[slot]

    def write(self, slot: int, data: Buffer) -> None:
        source = as_bytes_view(data, self.block_bytes)
        with self._lock:
            np.copyto(self._staging_array, source)
            self._blocks[slot].copy_(self._staging, non_blocking=False)

    def read_into(self, slot: int, out: WritableBuffer) -> None:
        target = as_writable_view(out, self.block_bytes)
        with self._lock:
            self._staging.copy_(self._blocks[slot], non_blocking=False)
            np.copyto(target, self._staging_array)

    def read(self, slot: int) -> bytes:
        buffer = bytearray(self.block_bytes)
        self.read_into(slot, buffer)
        return bytes(buffer)

    def close(self) -> None:
        self._blocks = None
        self._staging = None
