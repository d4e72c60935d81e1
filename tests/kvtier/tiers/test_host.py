import numpy as np
import pytest

from kvtier.tiers import HostArena


def test_blocks_round_trip_through_slots_from_any_buffer() -> None:
    arena = HostArena(4, 64)
    arena.write(0, b"a" * 64)
    arena.write(3, bytearray(b"b" * 64))
    arena.write(2, np.full(64, 7, dtype=np.uint8))
    assert arena.read(0) == b"a" * 64
    out = bytearray(64)
    arena.read_into(3, out)
    assert out == b"b" * 64
    assert arena.view(2).tolist() == [7] * 64
    assert arena.read(1) == bytes(64)  # faulted in as zeros
    arena.close()


def test_the_view_is_the_slot_itself() -> None:
    arena = HostArena(2, 8)
    arena.view(1)[:] = 5
    assert arena.read(1) == b"\x05" * 8


def test_sizes_and_read_only_outputs_are_checked() -> None:
    arena = HostArena(2, 16)
    with pytest.raises(ValueError, match="16 bytes, got 15"):
        arena.write(0, b"x" * 15)
    with pytest.raises(ValueError, match="read-only"):
        arena.read_into(0, np.frombuffer(bytes(16), dtype=np.uint8))
    with pytest.raises(ValueError, match="needs slots"):
        HostArena(0, 16)
