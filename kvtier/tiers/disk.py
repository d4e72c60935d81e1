"""The disk tier: one preallocated file on local disk split into fixed-size slots, a CRC-32 per block."""

from __future__ import annotations

import os
import tempfile
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from kvtier.blocks import Buffer, CorruptBlockError, WritableBuffer
from kvtier.tiers.base import U8Array, as_bytes_view, as_writable_view

CHECKSUM_CHUNK = 1 << 19
"""Blocks are checksummed in 512 KiB pieces. A write checksums a piece and writes it while it is still in
the CPU cache (the block crosses memory once, not twice). A read of a block of at least two pieces hands
each piece to a helper thread for its CRC while it reads the next one: zlib's CRC-32 and the file calls
release the GIL, so with a spare core the checksum hides behind the read."""

EMPTY = -1
"""Checksum of a slot never written: no CRC-32 equals it, so reading such a slot fails as corrupt."""


class DiskArena:
    """`slots` x `block_bytes` bytes in one file, written and read with positional I/O (`pwrite`/`preadv`,
    safe from several threads at distinct offsets), through the page cache.

    Each write records the block's CRC-32 (in memory); each read recomputes it and raises
    `CorruptBlockError` on a mismatch, so a block damaged on disk (or a short read) is never returned.
    The tier is a cache for one process's lifetime: the file is created empty (sparse) and deleted on
    `close`, and writes are not fsynced (`sync()` flushes when a caller wants to).
    """

    name = "disk"

    def __init__(self, slots: int, block_bytes: int, path: Path | str | None = None) -> None:
        if slots < 1 or block_bytes < 1:
            raise ValueError(f"a disk arena needs slots and bytes per block, got {slots} x {block_bytes}")
        self.slots = slots
        self.block_bytes = block_bytes
        if path is None:
            handle, name = tempfile.mkstemp(prefix="kvtier-", suffix=".arena")
            os.close(handle)
            path = name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(self._fd, slots * block_bytes)
        self._checksums = [EMPTY] * slots
        self._pipelined = block_bytes >= 2 * CHECKSUM_CHUNK
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kvtier-crc")
        self._close_lock = threading.Lock()
        self._closed = False

    def write(self, slot: int, data: Buffer) -> None:
        source = as_bytes_view(data, self.block_bytes).data
        offset = self._offset(slot)
        checksum = 0
        for start in range(0, self.block_bytes, CHECKSUM_CHUNK):
            piece = source[start : start + CHECKSUM_CHUNK]
            checksum = zlib.crc32(piece, checksum)
            _pwrite_all(self._fd, piece, offset + start)
        self._checksums[slot] = checksum

    def read_into(self, slot: int, out: WritableBuffer) -> None:
        target = as_writable_view(out, self.block_bytes)
        offset = self._offset(slot)
        expected = self._checksums[slot]
        if self._pipelined:
            actual = self._read_pipelined(target, offset)
        else:
            actual = zlib.crc32(target.data) if _pread_all(self._fd, target, offset) else None
        if actual is None:
            raise CorruptBlockError(slot, expected & 0xFFFFFFFF, 0, "the file ends inside the block")
        if actual != expected:
            raise CorruptBlockError(slot, expected & 0xFFFFFFFF, actual)

    def _read_pipelined(self, target: U8Array, offset: int) -> int | None:
        # The helper has one thread, so the folds of one read run in submission order.
        state = [0]

        def fold(piece: U8Array) -> None:
            state[0] = zlib.crc32(piece.data, state[0])

        last: Future[None] | None = None
        complete = True
        for start in range(0, self.block_bytes, CHECKSUM_CHUNK):
            piece = target[start : start + CHECKSUM_CHUNK]
            complete = _pread_all(self._fd, piece, offset + start)
            if not complete:
                break
            last = self._helper.submit(fold, piece)
        if last is not None:
            last.result()
        return state[0] if complete else None

    def read(self, slot: int) -> bytes:
        buffer = bytearray(self.block_bytes)
        self.read_into(slot, buffer)
        return bytes(buffer)

    def checksum(self, slot: int) -> int:
        """The CRC-32 recorded for `slot` (EMPTY if never written)."""
        return self._checksums[slot]

    def offset(self, slot: int) -> int:
        """Byte offset of `slot` in the file (for tests that damage a block on purpose)."""
        return self._offset(slot)

    def sync(self) -> None:
        """Flushes written blocks to the device (fsync)."""
        os.fsync(self._fd)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._helper.shutdown(wait=True)
        os.close(self._fd)
        self.path.unlink(missing_ok=True)

    def _offset(self, slot: int) -> int:
        if not 0 <= slot < self.slots:
            raise IndexError(f"slot {slot} is outside the arena's {self.slots} slots")
        return slot * self.block_bytes


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def _pread_all(fd: int, target: U8Array, offset: int) -> bool:
    """Fills `target` from `offset`; False if the file ends first."""
    view = target.data
    done = 0
    while done < len(view):
        count = os.preadv(fd, [view[done:]], offset + done)
        if count == 0:
            return False
        done += count
    return True
