"""Types shared by the policies, the tiers and the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

BlockHash: TypeAlias = int | bytes
"""A prefix block hash exactly as the caller computed it (vLLM's per-block hash, a trace's hash id).
kvtier compares and stores hashes; it never hashes token content itself."""

Buffer: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
"""Anything a block's bytes can be read from (contiguous, one byte per element)."""

WritableBuffer: TypeAlias = bytearray | memoryview | npt.NDArray[np.uint8]
"""Anything a block's bytes can be read into (writable, contiguous)."""


class KvtierError(Exception):
    """Base of the errors kvtier raises on purpose."""


class CorruptBlockError(KvtierError):
    """A block read back from a tier does not match the checksum written with it."""

    def __init__(self, slot: int, expected: int, actual: int, problem: str = "") -> None:
        super().__init__(
            f"slot {slot}: {problem}"
            if problem
            else f"slot {slot}: checksum {actual:#010x} does not match the stored {expected:#010x}"
        )
        self.slot = slot
        self.expected = expected
        self.actual = actual


class DeviceTierUnavailableError(KvtierError):
    """A device tier was configured but torch or a CUDA device is missing."""


@dataclass(frozen=True, slots=True)
class BlockLocation:
    """Where a block's bytes are: the tier's name ("device", "host" or "disk") and the slot in its arena."""

    tier: str
    slot: int


@dataclass(frozen=True, slots=True)
class StorePlan:
    """The answer to `prepare_store`.

    `to_store` are the hashes the caller must write (a leading run of the requested chain that was neither
    cached nor refused), each with its reserved `locations` entry; `evicted` are the hashes dropped from
    the store to make room (demoted blocks are not listed: they are still cached, one tier lower)."""

    to_store: tuple[BlockHash, ...]
    locations: tuple[BlockLocation, ...]
    evicted: tuple[BlockHash, ...]
