import os
from pathlib import Path

import numpy as np
import pytest

from kvtier.blocks import CorruptBlockError
from kvtier.tiers import DiskArena
from kvtier.tiers.disk import CHECKSUM_CHUNK


def payload(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        original = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([original[0] ^ 0x5A]))


@pytest.mark.parametrize("block_bytes", [4096, 2 * CHECKSUM_CHUNK + 4096])
def test_blocks_round_trip_and_a_flipped_byte_is_detected(tmp_path: Path, block_bytes: int) -> None:
    arena = DiskArena(3, block_bytes, tmp_path / "arena.bin")
    blocks = [payload(seed, block_bytes) for seed in range(3)]
    for slot, block in enumerate(blocks):
        arena.write(slot, block)
    assert [arena.read(slot) for slot in range(3)] == blocks
    flip_byte(arena.path, arena.offset(1) + block_bytes - 3)  # in the last checksum chunk
    with pytest.raises(CorruptBlockError, match="slot 1") as raised:
        arena.read(1)
    assert raised.value.expected == arena.checksum(1)
    out = np.zeros(block_bytes, dtype=np.uint8)
    arena.read_into(2, out)  # its neighbours are intact
    assert out.tobytes() == blocks[2]
    arena.write(1, blocks[1])  # rewriting heals the slot
    assert arena.read(1) == blocks[1]
    arena.close()


def test_a_slot_never_written_reads_as_corrupt(tmp_path: Path) -> None:
    arena = DiskArena(2, 512, tmp_path / "arena.bin")
    with pytest.raises(CorruptBlockError):
        arena.read(1)
    arena.close()


@pytest.mark.parametrize("block_bytes", [512, 2 * CHECKSUM_CHUNK])
def test_a_truncated_file_reads_as_corrupt(tmp_path: Path, block_bytes: int) -> None:
    arena = DiskArena(2, block_bytes, tmp_path / "arena.bin")
    arena.write(1, payload(1, block_bytes))
    os.truncate(arena.path, block_bytes + 100)
    with pytest.raises(CorruptBlockError, match="ends inside the block"):
        arena.read(1)
    arena.close()


def test_the_file_is_preallocated_and_removed_on_close(tmp_path: Path) -> None:
    arena = DiskArena(8, 1024, tmp_path / "sub" / "arena.bin")
    assert arena.path.stat().st_size == 8 * 1024
    arena.sync()
    arena.close()
    arena.close()
    assert not arena.path.exists()
    temporary = DiskArena(1, 64)
    assert temporary.path.exists()
    temporary.close()
    assert not temporary.path.exists()


def test_slots_and_sizes_are_checked(tmp_path: Path) -> None:
    arena = DiskArena(2, 64, tmp_path / "arena.bin")
    with pytest.raises(IndexError):
        arena.write(2, bytes(64))
    with pytest.raises(ValueError, match="64 bytes"):
        arena.write(0, bytes(65))
    arena.close()
