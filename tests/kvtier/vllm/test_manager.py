"""The scheduler-side manager: per-key lookups, load sources, pins, failed stores, vLLM's None/empty answers,
events, offload keys, parents from the request's key positions, metrics and cache resets."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kvtier.blocks import BlockHash, StorePlan
from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.manager import KvtierLoadStoreSpec, KvtierOffloadingManager, to_key
from kvtier.vllm.metrics import METRICS
from kvtier.vllm.shared import StoreHandle
from tests.kvtier.vllm.conftest import CHUNK_TOKENS, STANDIN_TYPES, StackFactory
from tests.kvtier.vllm.standins import (
    CacheHitSource,
    GPULoadStoreSpec,
    LoadStoreSpec,
    LookupResult,
    Medium,
    OffloadingConnectorStats,
    OffloadKey,
    OffloadPolicy,
    PrepareStoreOutput,
    ReqContext,
    RequestOffloadingContext,
    make_offload_key,
)

BLOCK = 64


def chain(prefix: str, count: int) -> list[OffloadKey]:
    return [make_offload_key(f"{prefix}{index}".encode(), 0) for index in range(count)]


def request(keys: Sequence[OffloadKey]) -> ReqContext:
    """A request's context with each key's end position recorded, as vLLM's scheduler records it."""
    context = ReqContext(f"req-{keys[0]!r}" if keys else "req")
    for index, key in enumerate(keys, 1):
        context.set_offload_key_position(key, index * CHUNK_TOKENS)
    return context


ManagerFactory = Callable[..., KvtierOffloadingManager]


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[ManagerFactory]:
    """Managers over a store of 64-byte blocks (`host` and optionally `disk` slots), closed after the test."""
    stores: list[TieredStore] = []

    def make(
        host: int, disk: int = 0, *, types: Any = STANDIN_TYPES, **kwargs: Any
    ) -> KvtierOffloadingManager:
        tiers = [TierSpec("host", capacity_blocks=host)]
        if disk:
            tiers.append(TierSpec("disk", capacity_blocks=disk, path=tmp_path / f"disk{len(stores)}"))
        stores.append(TieredStore(BLOCK, tiers))
        return KvtierOffloadingManager(StoreHandle(stores[-1]), types, chunk_tokens=CHUNK_TOKENS, **kwargs)

    yield make
    for store in stores:
        store.close()


def store_all(
    manager: KvtierOffloadingManager, keys: Sequence[OffloadKey], context: ReqContext | None = None
) -> PrepareStoreOutput:
    """prepare_store, the worker's writes, complete_store: one store job of vLLM's."""
    context = context if context is not None else request(keys)
    output = manager.prepare_store(keys, context)
    assert isinstance(output, PrepareStoreOutput) and isinstance(output.store_spec, KvtierLoadStoreSpec)
    for key, location in zip(output.keys_to_store, output.store_spec.locations, strict=True):
        manager.store.write(location, np.full(manager.store.block_bytes, key[0], dtype=np.uint8))
    manager.complete_store(set(output.keys_to_store), context)
    return output


def lookups(manager: KvtierOffloadingManager, keys: Sequence[OffloadKey]) -> list[LookupResult]:
    context = request(keys)
    return [manager.lookup(key, context) for key in keys]


HIT, MISS, PENDING = LookupResult.HIT, LookupResult.MISS, LookupResult.HIT_PENDING


def test_lookup_answers_each_key_on_its_own(make_manager: ManagerFactory) -> None:
    manager = make_manager(8)
    a = chain("a", 3)
    assert lookups(manager, a) == [MISS, MISS, MISS]
    store_all(manager, a[:2])
    assert lookups(manager, a) == [HIT, HIT, MISS]
    assert manager.lookup(a[1], ReqContext("other")) is HIT  # no prefix walk: vLLM asks key by key
    assert manager.lookup(make_offload_key(b"a0", 1), ReqContext("other")) is MISS  # another KV cache group


def test_lookup_says_hit_pending_while_a_store_is_in_flight(make_manager: ManagerFactory) -> None:
    manager = make_manager(8)
    a = chain("a", 2)
    context = request(a)
    output = manager.prepare_store(a, context)
    assert output is not None and output.keys_to_store == a
    assert lookups(manager, a) == [PENDING, PENDING]  # vLLM defers the request and asks again later
    manager.complete_store({a[0]}, context)
    manager.complete_store({a[1]}, context, success=False)
    assert lookups(manager, a) == [HIT, MISS]


def test_the_load_source_is_the_tier_the_block_sits_in(make_manager: ManagerFactory) -> None:
    manager = make_manager(1, disk=4)
    a = chain("a", 3)
    store_all(manager, a)  # DRAM holds one block: the rest of the chain goes to disk
    assert [manager.store.location(key).tier for key in a] == ["host", "disk", "disk"]  # type: ignore[union-attr]
    context = request(a)
    assert [manager.get_load_source(key, context) for key in a] == [
        CacheHitSource.HOST,
        CacheHitSource.DISK,
        CacheHitSource.DISK,
    ]


def test_on_new_request_asks_for_chunk_level_offloading(make_manager: ManagerFactory) -> None:
    manager = make_manager(2)
    answer = manager.on_new_request(ReqContext("r"))
    assert isinstance(answer, RequestOffloadingContext) and answer.policy is OffloadPolicy.CHUNK_LEVEL


def test_pinned_blocks_are_not_evicted_while_they_load(make_stack: StackFactory) -> None:
    stack = make_stack(host=4)
    manager, worker, engine = stack.manager, stack.worker, stack.engine
    x, y = chain("x", 4), chain("y", 4)
    x_context = request(x)
    stored = manager.prepare_store(x, x_context)
    assert stored is not None
    for tensor, page in enumerate(stack.tensors):
        page[1:9] = (tensor + 1 + np.arange(8)).reshape(-1, 1)
    assert worker.submit_store(0, GPULoadStoreSpec(list(range(1, 9)), [8], [0]), stored.store_spec)
    assert engine.wait(0).success
    manager.complete_store(set(x), x_context)

    load_spec = manager.prepare_load(x[:2], x_context)  # pinned from here to complete_load
    y_context = request(y)
    pressure = manager.prepare_store(y, y_context)
    assert pressure is not None
    assert pressure.keys_to_store == y[:2]  # only the two unpinned tails could make room
    assert sorted(pressure.evicted_keys) == sorted(x[2:])
    assert lookups(manager, x) == [HIT, HIT, MISS, MISS]
    assert [manager.store.location(key) for key in x[:2]] == list(load_spec.locations)

    for page in stack.tensors:
        page[:] = 0
    assert worker.submit_load(1, load_spec, GPULoadStoreSpec([10, 11, 12, 13], [4], [0]))
    assert engine.wait(1).success
    for tensor, page in enumerate(stack.tensors):
        for offset in range(4):  # the pinned slots still hold x's bytes after the pressure
            assert np.all(page[10 + offset] == tensor + 1 + offset)
    manager.complete_load(set(x[:2]), x_context)
    manager.complete_store(set(y[:2]), y_context, success=False)

    after = manager.prepare_store(chain("z", 4), request(chain("z", 4)))  # unpinned now: x's head can go
    assert after is not None and len(after.keys_to_store) == 4
    stack.store.check()


def test_a_failed_store_frees_its_slots(make_manager: ManagerFactory) -> None:
    manager = make_manager(3)
    store = manager.store
    keys = chain("a", 3)
    context = request(keys)
    output = manager.prepare_store(keys, context)
    assert output is not None and output.keys_to_store == keys
    assert store.lookup(keys) == 0  # reserved blocks are invisible to the store until complete_store
    manager.take_events()
    manager.complete_store(set(keys), context, success=False)
    assert lookups(manager, keys) == [MISS, MISS, MISS]
    assert store.stats().tier("host").used_blocks == 0
    assert manager.reserved == 0
    assert list(manager.take_events()) == []  # nothing was ever announced as stored
    again = store_all(manager, keys)
    assert again.keys_to_store == keys and again.evicted_keys == []
    assert lookups(manager, keys) == [HIT, HIT, HIT]
    store.check()


def test_a_write_the_worker_reported_failed_is_released_even_if_vllm_says_success(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(host=8)
    keys = chain("w", 3)
    context = request(keys)
    output = stack.manager.prepare_store(keys, context)
    assert output is not None
    real_write = stack.store.write
    calls = []

    def flaky_write(location: Any, data: Any) -> None:
        calls.append(location)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(location, data)

    stack.store.write = flaky_write  # type: ignore[method-assign]
    assert stack.worker.submit_store(0, GPULoadStoreSpec(list(range(1, 7)), [6], [0]), output.store_spec)
    result = stack.engine.wait(0)
    assert (result.success, result.transfer_size, result.transfer_time) == (False, None, None)
    stack.manager.complete_store(set(keys), context)  # success=True, as vLLM always passes
    assert lookups(stack.manager, keys) == [HIT, MISS, MISS]
    assert stack.store.stats().tier("host").used_blocks == 1
    assert len(stack.handle.failures) == 0
    stack.store.check()


def test_a_load_the_worker_reported_failed_drops_the_block(make_stack: StackFactory) -> None:
    stack = make_stack(host=4)
    manager = stack.manager
    keys = chain("c", 2)
    store_all(manager, keys)
    manager.take_events()
    context = request(keys)
    spec = manager.prepare_load(keys, context)
    stack.handle.failures.report(spec.locations[1])  # as the worker does when a read fails
    manager.complete_load(set(keys), context)
    assert lookups(manager, keys) == [HIT, MISS]
    assert manager.store.stats().tier("host").corrupt == 1
    assert [(event.keys, event.removed) for event in manager.take_events()] == [([keys[1]], True)]
    assert len(stack.handle.failures) == 0


def test_prepare_store_answers_empty_when_cached_and_none_when_it_cannot_store(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(2)
    keys = chain("c", 2)
    store_all(manager, keys)
    cached = manager.prepare_store(keys, request(keys))
    assert isinstance(cached, PrepareStoreOutput) and isinstance(cached.store_spec, KvtierLoadStoreSpec)
    assert (cached.keys_to_store, cached.store_spec.locations, cached.evicted_keys) == ([], (), [])
    context = request(keys)
    manager.prepare_load(keys, context)  # every slot pinned: nothing can make room
    assert manager.prepare_store(chain("d", 1), request(chain("d", 1))) is None
    manager.complete_load(set(keys), context)
    assert manager.prepare_store(chain("d", 1), request(chain("d", 1))) is not None


def test_events_report_stores_and_evictions_on_vllms_cpu_medium(make_manager: ManagerFactory) -> None:
    manager = make_manager(2, enable_events=True)
    e, f = chain("e", 2), chain("f", 1)
    store_all(manager, e)
    store_all(manager, f)
    events = list(manager.take_events())
    assert [(event.removed, sorted(event.keys)) for event in events] == [
        (False, e),
        (True, [e[1]]),  # f0 made room by evicting e's tail
        (False, f),
    ]
    assert {event.medium for event in events} == {Medium.CPU}
    assert list(manager.take_events()) == []
    quiet = make_manager(2)
    store_all(quiet, chain("g", 1))
    assert list(quiet.take_events()) == []


def test_offload_keys_are_kvtier_keys_as_bytes(make_manager: ManagerFactory) -> None:
    key = make_offload_key(b"\x01\x02", 3)
    assert to_key(key) == b"\x01\x02\x00\x00\x00\x03"
    assert to_key(bytearray(b"ab")) == b"ab" and to_key(memoryview(b"cd")) == b"cd"
    with pytest.raises(TypeError, match="unsupported offload key 7"):
        to_key(7)
    manager = make_manager(4)
    keys = chain("k", 2)
    output = store_all(manager, keys)
    assert output.keys_to_store == keys  # vLLM matches these against its own keys
    assert manager.store.lookup(keys) == 2


class ParentSpy:
    """Records the `parent` of every `TieredStore.prepare_store` call."""

    def __init__(self, store: TieredStore) -> None:
        self.parents: list[BlockHash | None] = []
        self._prepare = store.prepare_store
        store.prepare_store = self  # type: ignore[method-assign]

    def __call__(self, hashes: Sequence[BlockHash], parent: BlockHash | None = None) -> StorePlan:
        self.parents.append(parent)
        return self._prepare(hashes, parent)


def test_a_run_whose_parent_is_cached_is_stored_after_it(make_manager: ManagerFactory) -> None:
    manager = make_manager(6)
    spy = ParentSpy(manager.store)
    p = chain("p", 5)
    context = request(p)
    store_all(manager, p[:2], context)
    store_all(manager, p[2:4], context)  # vLLM stores from the next chunk not yet stored
    assert spy.parents == [None, p[1]]  # p2 ends one chunk after p1: the request's positions say so
    assert lookups(manager, p) == [HIT, HIT, HIT, HIT, MISS]

    store_all(manager, chain("q", 1))
    evicting = store_all(manager, chain("r", 3))  # p's tail goes first, though p0 and p1 are older
    assert evicting.evicted_keys == [p[3], p[2]]
    assert lookups(manager, p) == [HIT, HIT, MISS, MISS, MISS]
    store_all(manager, p[4:], context)  # p3 left kvtier: p4 is stored as a new chain head
    assert spy.parents[-1] is None
    manager.store.check()


def test_a_parent_seen_by_lookup_links_the_next_store(make_manager: ManagerFactory) -> None:
    manager = make_manager(6)
    spy = ParentSpy(manager.store)
    shared = chain("s", 2)
    store_all(manager, shared)
    later = [*shared, *chain("t", 1)]
    context = request(later)  # a second request over the same prefix: it looks up, then stores the rest
    assert [manager.lookup(key, context) for key in later] == [HIT, HIT, MISS]
    store_all(manager, later[2:], context)
    assert spy.parents == [None, shared[1]]


def test_a_parent_still_being_stored_links_the_next_store(make_manager: ManagerFactory) -> None:
    manager = make_manager(6)
    spy = ParentSpy(manager.store)
    keys = chain("u", 2)
    context = request(keys)
    first = manager.prepare_store(keys[:1], context)
    second = manager.prepare_store(keys[1:], context)
    assert first is not None and second is not None and second.keys_to_store == keys[1:]
    assert spy.parents == [None, keys[0]]
    manager.complete_store(set(keys), context)
    assert lookups(manager, keys) == [HIT, HIT]


def test_the_chain_rule_keeps_a_linked_parent_until_its_child_leaves(make_manager: ManagerFactory) -> None:
    """Stored with its parent, a later run holds the earlier one: eviction takes the chain's tail (p3)
    although p0 and p1 are older. Without the request's key positions the run is a second chain head,
    and the oldest block (p1) goes."""
    for with_positions, evicted in ((True, "p3"), (False, "p1")):
        manager = make_manager(5)
        p = chain("p", 4)
        context = request(p) if with_positions else ReqContext("no-positions")
        store_all(manager, p[:2], context)
        store_all(manager, p[2:], context)
        store_all(manager, chain("q", 1))
        output = store_all(manager, chain("r", 1))
        assert output.evicted_keys == [make_offload_key(evicted.encode(), 0)]


def test_touch_refreshes_recency(make_manager: ManagerFactory) -> None:
    manager = make_manager(2)
    a, b = chain("a", 1), chain("b", 1)
    store_all(manager, a)
    store_all(manager, b)
    manager.touch(a, request(a))  # a is now the most recently used
    assert store_all(manager, chain("c", 1)).evicted_keys == b


def reported(stats: OffloadingConnectorStats, name: str, tier: str) -> int | float | None:
    value: int | float | None = stats.data["data"].get(name, {}).get((tier,))
    return value


def test_get_stats_reports_counter_deltas_and_gauge_levels_per_tier(make_manager: ManagerFactory) -> None:
    manager = make_manager(4, disk=8)
    first = manager.get_stats()
    assert isinstance(first, OffloadingConnectorStats)
    assert reported(first, "vllm:kvtier_capacity_blocks", "host") == 4
    assert reported(first, "vllm:kvtier_capacity_blocks", "disk") == 8
    assert reported(first, "vllm:kvtier_used_blocks", "host") == 0
    assert reported(first, "vllm:kvtier_written_bytes", "host") is None  # a zero delta is not reported
    assert {first.data["types"][metric.name] for metric in METRICS if metric.kind == "gauge"} == {"gauge"}

    keys = chain("m", 2)
    store_all(manager, keys)
    second = manager.get_stats()
    assert isinstance(second, OffloadingConnectorStats)
    assert reported(second, "vllm:kvtier_written_bytes", "host") == 2 * BLOCK
    assert reported(second, "vllm:kvtier_used_blocks", "host") == 2
    assert second.data["types"]["vllm:kvtier_written_bytes"] == "counter"

    context = request(keys)
    spec = manager.prepare_load(keys[:1], context)
    manager.store.read_into(spec.locations[0], np.empty(BLOCK, dtype=np.uint8))
    manager.complete_load(set(keys[:1]), context)
    third = manager.get_stats()
    assert isinstance(third, OffloadingConnectorStats)
    assert reported(third, "vllm:kvtier_hits", "host") == 1
    assert reported(third, "vllm:kvtier_read_bytes", "host") == BLOCK
    assert reported(third, "vllm:kvtier_written_bytes", "host") is None  # nothing written since
    assert reported(third, "vllm:kvtier_used_blocks", "host") == 2  # a level, reported every time

    store_all(manager, chain("n", 1))
    fourth = manager.get_stats()
    assert isinstance(fourth, OffloadingConnectorStats)
    assert reported(fourth, "vllm:kvtier_written_bytes", "host") == BLOCK  # the delta, not the running total
    assert reported(fourth, "vllm:kvtier_used_blocks", "host") == 3
    assert reported(fourth, "vllm:kvtier_hits", "host") is None


def test_get_stats_is_none_without_a_stats_class(make_manager: ManagerFactory) -> None:
    manager = make_manager(2, types=replace(STANDIN_TYPES, make_stats=None))
    assert manager.get_stats() is None


def test_reset_cache_releases_pins_and_reservations_and_keeps_stored_blocks(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(4)
    a, b = chain("a", 2), chain("b", 2)
    store_all(manager, a)
    manager.prepare_load(a, request(a))
    manager.prepare_load(a[:1], request(a))  # loaded twice: two pins
    assert manager.prepare_store(b, request(b)) is not None
    assert (manager.loading, manager.reserved) == (2, 2)
    manager.reset_cache()  # vLLM will never complete those loads and stores
    assert (manager.loading, manager.reserved) == (0, 0)
    assert lookups(manager, a) == [HIT, HIT]  # keyed by content: still correct to serve
    assert lookups(manager, b) == [MISS, MISS]
    # nothing is pinned or reserved any more: a new chain can take every slot
    c = chain("c", 4)
    output = store_all(manager, c)
    assert output.keys_to_store == c and sorted(output.evicted_keys) == sorted(a)
    manager.store.check()


def test_reset_cache_forgets_failure_reports_of_the_stores_it_abandons(make_manager: ManagerFactory) -> None:
    manager = make_manager(1)
    old, new = chain("old", 1), chain("new", 1)
    abandoned = manager.prepare_store(old, request(old))
    assert abandoned is not None
    slot = abandoned.store_spec.locations[0]
    manager._failures.report(slot)  # the worker's write failed; vLLM resets before completing the store
    manager.reset_cache()
    reused = manager.prepare_store(new, request(new))
    assert reused is not None and reused.store_spec.locations[0] == slot
    manager.complete_store(new, request(new))  # this write went well
    assert lookups(manager, new) == [HIT]


def test_load_store_spec_names_its_slots(make_manager: ManagerFactory) -> None:
    manager = make_manager(2)
    output = store_all(manager, chain("s", 2))
    spec = output.store_spec
    assert isinstance(spec, KvtierLoadStoreSpec) and isinstance(spec, LoadStoreSpec)
    assert spec.num_blocks == 2
    assert [location.tier for location in spec.locations] == ["host", "host"]
    assert sorted(location.slot for location in spec.locations) == [0, 1]
    assert repr(spec).startswith("KvtierLoadStoreSpec(host:")
