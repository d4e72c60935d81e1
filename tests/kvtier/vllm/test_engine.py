"""Requests sharing prefixes through the fake engine: vLLM 0.32's call order, real kvtier tiers, numpy KV."""

import numpy as np

from kvtier.tiers import DiskArena
from kvtier.vllm.manager import KvtierOffloadingManager
from tests.kvtier.vllm.conftest import BLOCKS_PER_CHUNK, CHUNK_TOKENS, StackFactory
from tests.kvtier.vllm.fake_engine import FakeEngine
from tests.kvtier.vllm.standins import (
    CacheHitSource,
    LookupResult,
    Medium,
    OffloadingEvent,
    OffloadKey,
    ReqContext,
)


def prompt(seed: int, chunks: int) -> list[int]:
    return [int(token) for token in np.random.default_rng(seed).integers(0, 32000, chunks * CHUNK_TOKENS)]


def cached_chunks(manager: KvtierOffloadingManager, keys: list[OffloadKey]) -> int:
    """How many leading keys a vLLM prefix lookup would find (it stops at the first MISS)."""
    context = ReqContext("probe")
    count = 0
    for key in keys:
        if manager.lookup(key, context) is not LookupResult.HIT:
            break
        count += 1
    return count


def keys_of(engine: FakeEngine, tokens: list[int]) -> list[OffloadKey]:
    return engine.offload_keys(tokens)


def test_requests_sharing_prefixes_hit_exactly_what_was_stored(make_stack: StackFactory) -> None:
    stack = make_stack(host=32)
    engine, manager = stack.engine, stack.manager
    a = prompt(1, 5)
    b = a[: 3 * CHUNK_TOKENS] + prompt(2, 2)
    c = a[: 2 * CHUNK_TOKENS] + prompt(3, 3)

    first = engine.run(a)
    assert (first.hit_tokens, first.load_ok, first.stored, first.gpu_matches) == (0, None, 5, True)
    assert first.offered == keys_of(engine, a)  # nothing loaded: vLLM offers every chunk from 0
    second = engine.run(b)
    assert (second.hit_tokens, second.load_ok, second.gpu_matches) == (3 * CHUNK_TOKENS, True, True)
    assert second.offered == keys_of(engine, b)[3:]  # stores resume after the loaded chunks
    assert second.stored == 2
    third = engine.run(c)
    assert (third.hit_tokens, third.load_ok, third.gpu_matches, third.stored) == (
        2 * CHUNK_TOKENS,
        True,
        True,
        3,
    )

    for tokens, cached in (
        (a, 5),
        (b, 5),
        (c, 5),
        (prompt(4, 3), 0),
        (a[:CHUNK_TOKENS] + prompt(5, 1), 1),
    ):
        assert cached_chunks(manager, keys_of(engine, tokens)) == cached
    stored_events = [event for event in manager.take_events() if not event.removed]
    assert [len(event.keys) for event in stored_events] == [5, 2, 3]
    assert isinstance(stored_events[0], OffloadingEvent)
    assert (stored_events[0].medium, stored_events[0].removed) == (Medium.CPU, False)
    assert set(stored_events[0].keys) == set(keys_of(engine, a))  # vLLM completes a job's keys as a set
    assert (manager.loading, manager.reserved) == (0, 0)
    stack.store.check()


def test_a_load_after_a_partial_gpu_prefix_hit_fills_only_the_missing_gpu_blocks(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(host=32)
    a = prompt(7, 5)
    stack.engine.run(a)
    # three GPU blocks still cached: chunk 1 is half on the GPU, so the load skips its first GPU block
    again = stack.engine.run(a, gpu_cached_blocks=3)
    assert (again.hit_tokens, again.load_ok, again.gpu_matches) == (5 * CHUNK_TOKENS - 3 * 4, True, True)
    assert again.load_keys == keys_of(stack.engine, a)[1:]
    assert again.load_spec.num_blocks == 4
    assert again.load_gpu_spec is not None and list(again.load_gpu_spec.block_indices) == [3]
    assert len(again.load_gpu_spec.block_ids) == 2 * 5 - 3
    assert again.offered == []  # every chunk is in kvtier or was loaded: nothing to store


def test_a_load_after_a_whole_chunk_gpu_prefix_hit_starts_at_the_next_chunk(make_stack: StackFactory) -> None:
    stack = make_stack(host=32)
    a = prompt(8, 4)
    stack.engine.run(a)
    again = stack.engine.run(a, gpu_cached_blocks=2 * BLOCKS_PER_CHUNK)
    assert (again.hit_tokens, again.load_ok, again.gpu_matches) == (2 * CHUNK_TOKENS, True, True)
    assert again.load_keys == keys_of(stack.engine, a)[2:]
    assert again.load_gpu_spec is not None and list(again.load_gpu_spec.block_indices) == [4]


def test_blocks_round_trip_byte_exact_through_the_disk_tier(make_stack: StackFactory) -> None:
    stack = make_stack(host=2, disk=16)
    a = prompt(11, 6)
    stack.engine.run(a)
    keys = keys_of(stack.engine, a)
    tiers = [stack.store.location(key).tier for key in keys]  # type: ignore[union-attr]
    assert tiers == ["host"] * 2 + ["disk"] * 4  # DRAM was full: the chain's rest went to disk
    again = stack.engine.run(a)
    assert (again.hit_tokens, again.load_ok, again.gpu_matches) == (6 * CHUNK_TOKENS, True, True)
    assert {location.tier for location in again.load_spec.locations} == {"host", "disk"}
    assert stack.store.stats().tier("disk").bytes_read >= 4 * stack.store.block_bytes
    # vLLM's prompt_tokens_cached_by_source: each loaded chunk counted by the tier it came from
    assert again.sources == {CacheHitSource.HOST: 2 * CHUNK_TOKENS, CacheHitSource.DISK: 4 * CHUNK_TOKENS}


def test_a_corrupted_disk_block_fails_its_load_and_is_never_served_again(make_stack: StackFactory) -> None:
    stack = make_stack(host=1, disk=16)
    a = prompt(13, 4)
    stack.engine.run(a)
    keys = keys_of(stack.engine, a)
    on_disk = [index for index, key in enumerate(keys) if stack.store.location(key).tier == "disk"]  # type: ignore[union-attr]
    victim = on_disk[1]
    location = stack.store.location(keys[victim])
    assert location is not None
    arena = stack.store.arena("disk")
    assert isinstance(arena, DiskArena)
    with arena.path.open("r+b") as handle:
        handle.seek(arena.offset(location.slot) + 5)
        byte = handle.read(1)[0]
        handle.seek(arena.offset(location.slot) + 5)
        handle.write(bytes([byte ^ 0xFF]))
    stack.manager.take_events()

    failed = stack.engine.run(a)
    assert (failed.hit_tokens, failed.load_ok) == (4 * CHUNK_TOKENS, False)
    assert (failed.load_result.transfer_size, failed.load_result.transfer_time) == (None, None)
    assert cached_chunks(stack.manager, keys) == victim  # dropped at complete_load: lookups stop before it
    assert stack.manager.lookup(keys[victim], ReqContext("probe")) is LookupResult.MISS
    assert stack.store.stats().tier("disk").corrupt == 1
    removed = [event for event in stack.manager.take_events() if event.removed]
    assert [event.keys for event in removed] == [[keys[victim]]]
    assert len(stack.handle.failures) == 0  # the report was consumed

    healed = stack.engine.run(a)  # the prefix before it still loads, and the block is stored afresh
    assert (healed.hit_tokens, healed.load_ok, healed.gpu_matches) == (victim * CHUNK_TOKENS, True, True)
    assert healed.store_output is not None and healed.store_output.keys_to_store == [keys[victim]]
    assert cached_chunks(stack.manager, keys) == 4
    again = stack.engine.run(a)
    assert (again.hit_tokens, again.load_ok, again.gpu_matches) == (4 * CHUNK_TOKENS, True, True)
    stack.store.check()


def test_a_request_is_deferred_while_its_chunks_are_still_being_stored(make_stack: StackFactory) -> None:
    stack = make_stack(host=16)
    a = prompt(17, 3)
    first = stack.engine.run(a, complete_stores=False)
    assert first.stored == 3 and stack.manager.reserved == 3
    waiting = stack.engine.run(a)
    assert waiting.hit_tokens is None  # HIT_PENDING: vLLM keeps the request waiting, no load is issued
    assert waiting.load_spec is None and waiting.store_output is None
    stack.engine.complete_stores()
    assert stack.manager.reserved == 0
    ready = stack.engine.run(a)
    assert (ready.hit_tokens, ready.load_ok, ready.gpu_matches) == (3 * CHUNK_TOKENS, True, True)


def test_a_tiny_store_keeps_serving_correct_prefixes_under_pressure(make_stack: StackFactory) -> None:
    stack = make_stack(host=3, disk=5, policy="arc")
    prompts = [prompt(20 + seed, 4) for seed in range(4)]
    loads = 0
    for round_ in range(3):
        for index, tokens in enumerate(prompts):
            outcome = stack.engine.run(tokens[: (index % 4 + 1) * CHUNK_TOKENS] if round_ == 1 else tokens)
            assert outcome.load_ok in (None, True)
            assert outcome.gpu_matches
            loads += outcome.load_ok is True
    assert loads > 0
    stack.store.check()
    assert (stack.manager.loading, stack.manager.reserved) == (0, 0)


def test_a_prefix_served_from_kvtier_becomes_the_most_recently_used(make_stack: StackFactory) -> None:
    """vLLM 0.32 never calls touch: the manager refreshes a request's blocks when the request finishes, so
    an LRU host tier evicts the prefix nobody asked for again, not the one just served."""
    stack = make_stack(host=2)
    a, b, c = prompt(30, 1), prompt(31, 1), prompt(32, 1)
    stack.engine.run(a)
    stack.engine.run(b)
    assert stack.engine.run(a).hit_tokens == CHUNK_TOKENS
    evicted = stack.engine.run(c).store_output.evicted_keys
    assert evicted == keys_of(stack.engine, b)
    assert cached_chunks(stack.manager, keys_of(stack.engine, a)) == 1
