import random
import threading
from concurrent.futures import wait
from pathlib import Path

import numpy as np
import pytest

from kvtier.blocks import BlockLocation, CorruptBlockError
from kvtier.store import TieredStore, TierSpec
from kvtier.tiers import DiskArena

BLOCK = 256


def block(key: int) -> bytes:
    return key.to_bytes(8, "little") * (BLOCK // 8)


def host_and_disk(host: int, disk: int, tmp_path: Path, **kwargs: object) -> TieredStore:
    tiers = [
        TierSpec("host", capacity_blocks=host),
        TierSpec("disk", capacity_blocks=disk, path=tmp_path / "a"),
    ]
    return TieredStore(BLOCK, tiers, **kwargs)  # type: ignore[arg-type]


def flip_byte(store: TieredStore, key: int) -> None:
    location = store.location(key)
    assert location is not None and location.tier == "disk"
    arena = store.arena("disk")
    assert isinstance(arena, DiskArena)
    with arena.path.open("r+b") as handle:
        handle.seek(arena.offset(location.slot) + 17)
        value = handle.read(1)[0]
        handle.seek(arena.offset(location.slot) + 17)
        handle.write(bytes([value ^ 1]))


def test_blocks_round_trip_and_misses_are_counted(tmp_path: Path) -> None:
    with host_and_disk(4, 4, tmp_path) as store:
        assert store.put(1, block(1))
        assert store.put(2, bytearray(block(2)), parent=1)
        assert store.put(3, np.frombuffer(block(3), dtype=np.uint8), parent=2)
        assert not store.put(1, block(1))  # already cached
        assert store.get(2) == block(2)
        out = np.zeros(BLOCK, dtype=np.uint8)
        assert store.get_into(3, out) and out.tobytes() == block(3)
        assert store.get(99) is None
        assert store.lookup([1, 2, 3, 4]) == 3 and store.lookup([2, 3]) == 2 and store.lookup([9]) == 0
        stats = store.stats()
        assert (stats.gets, stats.hits, stats.misses, stats.puts, stats.stored) == (3, 2, 1, 4, 3)
        host = stats.tier("host")
        assert (host.hits, host.misses, host.used_blocks, host.used_bytes) == (2, 1, 3, 3 * BLOCK)
        assert stats.tier("disk").misses == 1  # the miss looked in both tiers
        assert host.read_latency.count == 2 and host.write_latency.count == 3
        assert host.bytes_written == 3 * BLOCK and host.bytes_read == 2 * BLOCK
        with pytest.raises(ValueError, match="256 bytes"):
            store.put(5, b"short")


def test_pressure_demotes_to_disk_and_a_disk_hit_promotes_back(tmp_path: Path) -> None:
    with host_and_disk(2, 3, tmp_path) as store:
        for key in (1, 2, 3):
            store.put(key, block(key))
        assert store.location(1) == BlockLocation("disk", store.location(1).slot)  # type: ignore[union-attr]
        assert store.get(1) == block(1)
        location = store.location(1)
        assert location is not None and location.tier == "host"
        location = store.location(2)
        assert location is not None and location.tier == "disk"  # made room for the promotion
        stats = store.stats()
        assert stats.tier("host").promotions == 1 and stats.tier("host").demotions == 2
        assert stats.tier("disk").hits == 1 and stats.tier("host").misses == 1
        assert stats.tier("disk").bytes_written == 2 * BLOCK and stats.tier("disk").bytes_read == BLOCK
        # the last tier's victims leave the store
        for key in (4, 5, 6, 7):
            store.put(key, block(key))
        assert len(store) == 5
        assert store.stats().tier("disk").evictions == 2
        store.check()


def test_without_promotion_blocks_stay_where_they_are(tmp_path: Path) -> None:
    with host_and_disk(1, 2, tmp_path, promotion="none") as store:
        store.put(1, block(1))
        store.put(2, block(2))
        assert store.get(1) == block(1)
        assert store.location(1).tier == "disk"  # type: ignore[union-attr]


def test_prepare_store_reports_what_left_the_store(tmp_path: Path) -> None:
    with host_and_disk(1, 1, tmp_path) as store:
        store.put(1, block(1))
        store.put(2, block(2))
        plan = store.prepare_store([3, 4])
        # 3 takes the host slot (2 goes down, 1 out); the host cannot also take 4 (3 is its parent and
        # reserved), so 4 goes to the disk, where 2 makes room
        assert plan.to_store == (3, 4)
        assert plan.evicted == (1, 2)
        assert [location.tier for location in plan.locations] == ["host", "disk"]


def test_a_chain_loses_its_tail_first_across_tiers(tmp_path: Path) -> None:
    with host_and_disk(3, 2, tmp_path) as store:
        store.put(1, block(1))
        store.put(2, block(2), parent=1)
        store.put(3, block(3), parent=2)
        store.touch([2, 3])  # the head is now the least recently used
        store.put(10, block(10))
        assert store.location(3).tier == "disk"  # type: ignore[union-attr]
        store.put(11, block(11))
        assert store.location(2).tier == "disk"  # type: ignore[union-attr]
        assert store.lookup([1, 2, 3]) == 3
        store.put(12, block(12))  # the host now gives up 1 and the disk its tail (3) to make room
        assert store.lookup([1, 2, 3]) == 2
        assert 3 not in store
        store.check()


def test_the_last_tier_keeps_a_parent_whose_child_is_in_a_tier_above(tmp_path: Path) -> None:
    """The index path (vLLM's) does not promote: a new turn lands in the host over a prefix on disk."""
    with host_and_disk(2, 2, tmp_path, promotion="none") as store:
        for key in (1, 10, 11):
            store.put(key, block(key))
        assert store.location(1).tier == "disk"  # type: ignore[union-attr]
        assert store.put(2, block(2), parent=1)  # host: 10 goes down; 2's parent is on disk
        assert store.location(10).tier == "disk"  # type: ignore[union-attr]
        store.put(12, block(12))  # host: 11 goes down; the disk's LRU is 1, but 2 needs it: 10 goes
        assert 1 in store and 10 not in store
        assert store.lookup([1, 2]) == 2
        store.put(13, block(13))  # host: 2 goes down beside its parent, which 11 makes room for
        assert store.location(2).tier == "disk"  # type: ignore[union-attr]
        assert store.lookup([1, 2]) == 2 and 11 not in store
        store.check()
        store.put(14, block(14))  # now an ordinary disk chain: its tail goes first
        assert store.lookup([1, 2]) == 1
        store.put(15, block(15))
        assert store.lookup([1, 2]) == 0
        store.check()


def test_a_corrupt_disk_block_is_a_miss_never_returned(tmp_path: Path) -> None:
    with host_and_disk(1, 4, tmp_path) as store:
        store.put(1, block(1))
        store.put(2, block(2))
        flip_byte(store, 1)
        assert store.get(1) is None
        assert 1 not in store and store.lookup([1]) == 0
        stats = store.stats()
        assert stats.tier("disk").corrupt == 1 and stats.misses == 1 and stats.hits == 0
        assert stats.tier("disk").used_blocks == 0
        store.check()
        assert store.put(1, block(1))  # the hash can be stored again
        assert store.get(1) == block(1)


def test_a_corrupt_block_read_through_the_index_api_is_dropped_on_complete_load(tmp_path: Path) -> None:
    with host_and_disk(1, 4, tmp_path) as store:
        store.put(1, block(1))
        store.put(2, block(2))
        flip_byte(store, 1)
        [location] = store.prepare_load([1])
        with pytest.raises(CorruptBlockError):
            store.read_into(location, bytearray(BLOCK))
        store.complete_load([1], corrupt=[1])
        assert 1 not in store and store.stats().tier("disk").corrupt == 1
        store.check()


def test_pinned_blocks_are_never_evicted(tmp_path: Path) -> None:
    with TieredStore(BLOCK, [TierSpec("host", capacity_blocks=2)]) as store:
        store.put(1, block(1))
        store.put(2, block(2))
        [location] = store.prepare_load([1])  # 1 is the least recently used, but pinned
        assert store.put(3, block(3))
        assert 1 in store and 2 not in store
        out = bytearray(BLOCK)
        store.read_into(location, out)
        assert out == block(1)
        store.prepare_load([3])
        assert not store.put(4, block(4))  # everything is pinned: nothing can make room
        store.complete_load([1, 3])
        assert store.put(4, block(4))
        with pytest.raises(KeyError):
            store.complete_load([4])  # not pinned
        with pytest.raises(KeyError):
            store.prepare_load([4, 77])


def test_reserved_blocks_are_invisible_until_stored_and_freed_on_failure(tmp_path: Path) -> None:
    with host_and_disk(2, 2, tmp_path) as store:
        store.put(1, block(1))
        plan = store.prepare_store([1, 2, 3], parent=None)
        assert plan.to_store == (2, 3)
        assert [location.tier for location in plan.locations] == ["host", "disk"]  # 1 is 2's parent: it stays
        assert store.lookup([1, 2, 3]) == 1
        for key, location in zip(plan.to_store, plan.locations, strict=True):
            store.write(location, block(key))
        store.complete_store([2], success=True)
        store.complete_store([3], success=False)
        assert store.lookup([1, 2, 3]) == 2
        assert store.get(2) == block(2)
        assert store.prepare_store([5], parent=4).to_store == ()  # orphan: parent not cached
        store.check()


@pytest.mark.parametrize("promotion", ["top", "none"])
def test_capacity_is_never_exceeded_under_random_operations(tmp_path: Path, promotion: str) -> None:
    rng = random.Random(5)
    tiers = [
        TierSpec("host", capacity_bytes=5 * BLOCK + 100, policy="arc"),
        TierSpec("disk", capacity_bytes=9 * BLOCK, policy="s3fifo", path=tmp_path / "a"),
    ]
    with TieredStore(BLOCK, tiers, promotion=promotion) as store:  # type: ignore[arg-type]
        snapshot = store.stats()
        assert [tier.capacity_blocks for tier in snapshot.tiers] == [5, 9]
        pinned: list[int] = []
        for _ in range(1500):
            key = rng.randrange(40)
            action = rng.random()
            if action < 0.4:
                store.put(key, block(key), parent=key - 1 if key % 4 and (key - 1) in store else None)
            elif action < 0.75:
                data = store.get(key)
                assert data is None or data == block(key)
            elif action < 0.85:
                plan = store.prepare_store([key, key + 100])
                for new, location in zip(plan.to_store, plan.locations, strict=True):
                    store.write(location, block(int(new)))
                store.complete_store(plan.to_store, success=rng.random() < 0.7)
            elif action < 0.95 and key in store:
                store.prepare_load([key])
                pinned.append(key)
            elif pinned:
                store.complete_load([pinned.pop()])
            store.check()
            for tier in store.stats().tiers:
                assert tier.used_blocks <= tier.capacity_blocks
                assert tier.used_bytes <= tier.capacity_bytes
        stats = store.stats()
        dropped = sum(tier.evictions + tier.corrupt for tier in stats.tiers)
        assert stats.stored == len(store) + dropped
        assert stats.gets == stats.hits + stats.misses


def test_async_transfers_overlap_and_complete(tmp_path: Path) -> None:
    with host_and_disk(8, 32, tmp_path, workers=4) as store:
        puts = [store.put_async(key, block(key)) for key in range(30)]
        wait(puts)
        assert all(future.result() for future in puts)
        outs = {key: np.zeros(BLOCK, dtype=np.uint8) for key in range(0, 30, 3)}
        reads = {key: store.get_into_async(key, out) for key, out in outs.items()}
        copies = {key: store.get_async(key) for key in range(1, 30, 3)}
        assert all(future.result() for future in reads.values())
        assert all(out.tobytes() == block(key) for key, out in outs.items())
        assert all(future.result() == block(key) for key, future in copies.items())
        assert store.get_async(1000).result() is None
        store.check()


def test_concurrent_puts_and_gets_lose_nothing(tmp_path: Path) -> None:
    store = host_and_disk(16, 48, tmp_path)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(600):
                key = rng.randrange(120)
                if rng.random() < 0.5:
                    store.put(key, block(key))
                else:
                    data = store.get(key)
                    if data is not None and data != block(key):
                        raise AssertionError(f"block {key} came back with another block's bytes")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors, errors
        store.check()
        stats = store.stats()
        assert stats.gets == stats.hits + stats.misses
        assert stats.stored == len(store) + sum(tier.evictions for tier in stats.tiers)
        assert sum(tier.used_blocks for tier in stats.tiers) == len(store) == 64  # both tiers full
        assert stats.hits == sum(tier.hits for tier in stats.tiers)
        for key in range(120):
            if key in store:
                assert store.get(key) == block(key)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least one tier"),
        ([TierSpec("disk", capacity_blocks=1), TierSpec("host", capacity_blocks=1)], "fastest first"),
        ([TierSpec("host", capacity_blocks=1), TierSpec("host", capacity_blocks=1)], "distinct"),
        ([TierSpec("host")], "exactly one"),
        ([TierSpec("host", capacity_blocks=1, capacity_bytes=BLOCK)], "exactly one"),
        ([TierSpec("host", capacity_bytes=BLOCK - 1)], "at least one"),
        ([TierSpec("host", capacity_blocks=1, policy="mru")], "unknown eviction policy"),
    ],
)
def test_bad_configurations_are_refused(tiers: list[TierSpec], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TieredStore(BLOCK, tiers)
