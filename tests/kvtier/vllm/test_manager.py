"""The scheduler-side manager: pins, failed stores, vLLM's None/empty answers, events, hashes, parents."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import pytest

from kvtier.blocks import BlockHash, StorePlan
from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.manager import KvtierLoadStoreSpec, KvtierOffloadingManager, encode_block_id, to_key
from kvtier.vllm.shared import StoreHandle
from tests.kvtier.vllm.conftest import FAKE_TYPES, StackFactory
from tests.kvtier.vllm.fakes import FakeGPULoadStoreSpec, FakePrepareStoreOutput

BLOCK = 64


def chain(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}{index}".encode() for index in range(count)]


ManagerFactory = Callable[..., KvtierOffloadingManager]


@pytest.fixture
def host_manager() -> Iterator[ManagerFactory]:
    """Managers over a host-only store of `slots` 64-byte blocks, closed after the test."""
    stores: list[TieredStore] = []

    def make(slots: int, **kwargs: Any) -> KvtierOffloadingManager:
        stores.append(TieredStore(BLOCK, [TierSpec("host", capacity_blocks=slots)]))
        return KvtierOffloadingManager(StoreHandle(stores[-1]), FAKE_TYPES, block_size=16, **kwargs)

    yield make
    for store in stores:
        store.close()


def store_all(manager: KvtierOffloadingManager, keys: Sequence[bytes]) -> FakePrepareStoreOutput:
    output = manager.prepare_store(iter(keys))
    assert isinstance(output, FakePrepareStoreOutput)
    for key, location in zip(output.block_hashes_to_store, output.store_spec.locations, strict=True):
        manager.store.write(location, np.full(BLOCK, key[-1], dtype=np.uint8))
    manager.complete_store(output.block_hashes_to_store)
    return output


def test_pinned_blocks_are_not_evicted_while_they_load(make_stack: StackFactory) -> None:
    stack = make_stack(host=4)
    manager = stack.manager
    x, y = chain("x", 4), chain("y", 4)
    store_output = manager.prepare_store(iter(x))
    assert store_output is not None
    source = FakeGPULoadStoreSpec(list(range(8)))
    for layer, (array, dim) in enumerate(stack.engine.layers):
        np.moveaxis(array, dim, 0)[:8] = layer + 1 + np.arange(8).reshape(-1, *([1] * (array.ndim - 1)))
    assert stack.worker.wait(stack.worker.submit((source, store_output.store_spec)))
    manager.complete_store(x)

    load_spec = manager.prepare_load(iter(x[:2]))  # pinned from here to complete_load
    pressure = manager.prepare_store(iter(y))
    assert pressure is not None
    assert pressure.block_hashes_to_store == y[:2]  # only the two unpinned tails could make room
    assert sorted(pressure.block_hashes_evicted) == sorted(x[2:])
    assert manager.lookup(x) == 2
    assert [manager.store.location(key) for key in x[:2]] == list(load_spec.locations)

    for array, dim in stack.engine.layers:
        np.moveaxis(array, dim, 0)[:] = 0
    target = FakeGPULoadStoreSpec([10, 11, 12, 13])
    assert stack.worker.wait(stack.worker.submit((load_spec, target)))
    for layer, (array, dim) in enumerate(stack.engine.layers):
        blocks = np.moveaxis(array, dim, 0)
        for offset in range(4):  # the pinned slots still hold x's bytes after the pressure
            assert np.all(blocks[10 + offset] == layer + 1 + offset)
    manager.complete_load(x[:2])
    manager.complete_store(y[:2], success=False)

    after = manager.prepare_store(iter(chain("z", 4)))  # unpinned now: x's head can go
    assert after is not None and len(after.block_hashes_to_store) == 4
    stack.store.check()


def test_a_failed_store_frees_its_slots(host_manager: ManagerFactory) -> None:
    manager = host_manager(3)
    store = manager.store
    keys = chain("a", 3)
    output = manager.prepare_store(iter(keys))
    assert output is not None and output.block_hashes_to_store == keys
    assert store.lookup(keys) == 0  # reserved blocks are invisible until complete_store
    manager.take_events()
    manager.complete_store(keys, success=False)
    assert manager.lookup(keys) == 0
    assert store.stats().tier("host").used_blocks == 0
    assert manager.reserved == 0
    assert list(manager.take_events()) == []  # nothing was ever announced as stored
    again = store_all(manager, keys)
    assert again.block_hashes_to_store == keys and again.block_hashes_evicted == []
    assert manager.lookup(keys) == 3
    store.check()


def test_a_write_the_worker_reported_failed_is_released_even_if_vllm_says_success(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(host=8)
    keys = chain("w", 3)
    output = stack.manager.prepare_store(iter(keys))
    assert output is not None
    real_write = stack.store.write
    calls = []

    def flaky_write(location: Any, data: Any) -> None:
        calls.append(location)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(location, data)

    stack.store.write = flaky_write  # type: ignore[method-assign]
    job = stack.worker.submit((FakeGPULoadStoreSpec(list(range(6))), output.store_spec))
    assert stack.worker.wait(job) is False
    stack.manager.complete_store(keys)  # success=True, as vLLM 0.12 always passes
    assert stack.manager.lookup(keys) == 1
    assert stack.store.stats().tier("host").used_blocks == 1
    assert len(stack.handle.failures) == 0
    stack.store.check()


def test_prepare_store_answers_empty_when_cached_and_none_when_it_cannot_store(
    host_manager: ManagerFactory,
) -> None:
    manager = host_manager(2)
    keys = chain("c", 2)
    store_all(manager, keys)
    cached = manager.prepare_store(iter(keys))
    assert cached is not None
    assert (cached.block_hashes_to_store, cached.store_spec.locations, cached.block_hashes_evicted) == (
        [],
        (),
        [],
    )
    manager.prepare_load(keys)  # every slot pinned: nothing can make room
    assert manager.prepare_store(iter(chain("d", 1))) is None
    manager.complete_load(keys)
    assert manager.prepare_store(iter(chain("d", 1))) is not None


def test_events_report_stores_evictions_and_carry_the_block_size(host_manager: ManagerFactory) -> None:
    manager = host_manager(2, enable_events=True)
    store_all(manager, chain("e", 2))
    store_all(manager, chain("f", 1))
    events = list(manager.take_events())
    assert [(event.removed, event.block_hashes) for event in events] == [
        (False, chain("e", 2)),
        (True, [b"e1"]),
        (False, [b"f0"]),
    ]
    assert {(event.block_size, event.medium) for event in events} == {(16, "KVTIER")}
    assert list(manager.take_events()) == []
    quiet = host_manager(2)
    store_all(quiet, chain("g", 1))
    assert list(quiet.take_events()) == []


class OldBlockHash(NamedTuple):
    """vLLM before 0.11 named blocks by a tuple whose `hash_value` was an int."""

    hash_value: int
    token_ids: tuple[int, ...]


def test_hashes_are_keyed_as_kvtier_expects_and_returned_as_vllm_passed_them(
    host_manager: ManagerFactory,
) -> None:
    assert to_key(b"\x01\x02") == b"\x01\x02"
    assert to_key(7) == 7
    assert to_key(bytearray(b"ab")) == b"ab"
    assert to_key(OldBlockHash(42, (1, 2))) == 42
    with pytest.raises(TypeError, match="unsupported block hash"):
        to_key(1.5)
    manager = host_manager(4)
    old = [OldBlockHash(index, (index,)) for index in range(3)]
    output = manager.prepare_store(iter(old))
    assert (
        output is not None and output.block_hashes_to_store == old
    )  # vLLM matches these against its own objects
    manager.complete_store(old)
    assert manager.lookup(iter(old)) == 3 and manager.store.lookup([0, 1, 2]) == 3


def test_the_parent_of_an_incremental_store_is_learned_from_earlier_calls(
    host_manager: ManagerFactory,
) -> None:
    manager = host_manager(6)
    store = manager.store
    parents: list[BlockHash | None] = []
    real = store.prepare_store

    def spy(hashes: Sequence[BlockHash], parent: BlockHash | None = None) -> StorePlan:
        parents.append(parent)
        return real(hashes, parent)

    store.prepare_store = spy  # type: ignore[method-assign]
    keys = chain("p", 5)
    manager.touch(iter(keys))  # vLLM touches a request's whole chain when it is scheduled
    store_all(manager, keys[:2])
    store_all(manager, keys[2:4])  # vLLM stores from the next block not yet stored
    assert parents == [None, b"p1"]
    assert manager.lookup(keys) == 4
    manager.prepare_load(keys[:4])
    manager.complete_load(keys[:4])
    store_all(manager, chain("q", 2))
    store_all(manager, chain("r", 2))  # evicts p's tail: p3, p2 (LRU; tails first)
    assert manager.lookup(keys) == 2
    store_all(manager, keys[4:])  # p3 is gone: p4 is stored as a new chain head
    assert parents[-1] is None
    store.check()


def test_load_store_spec_names_its_slots(host_manager: ManagerFactory) -> None:
    manager = host_manager(2)
    output = store_all(manager, chain("s", 2))
    spec = output.store_spec
    assert isinstance(spec, KvtierLoadStoreSpec) and spec.medium() == "KVTIER"
    assert spec.num_blocks == 2 and spec.block_ids.dtype == np.int64
    assert list(spec.block_ids) == [encode_block_id(location) for location in spec.locations]
    assert encode_block_id(spec.locations[0]) >> 40 == 1  # the host tier
    assert "host:" in repr(spec)
