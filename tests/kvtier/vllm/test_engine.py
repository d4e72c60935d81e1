"""Requests sharing prefixes through the fake engine: vLLM's call order, real kvtier tiers, a numpy GPU."""

import numpy as np

from kvtier.tiers import DiskArena
from tests.kvtier.vllm.conftest import GPU_BLOCK_SIZE, StackFactory
from tests.kvtier.vllm.fakes import FakeOffloadingEvent, chain_hashes

FACTOR = 2
TOKENS_PER_BLOCK = GPU_BLOCK_SIZE * FACTOR


def prompt(seed: int, blocks: int) -> list[int]:
    return [int(token) for token in np.random.default_rng(seed).integers(0, 32000, blocks * TOKENS_PER_BLOCK)]


def offloaded_hashes(tokens: list[int]) -> list[bytes]:
    return chain_hashes(tokens, GPU_BLOCK_SIZE)[FACTOR - 1 :: FACTOR]


def test_requests_sharing_prefixes_hit_exactly_what_was_stored(make_stack: StackFactory) -> None:
    stack = make_stack(host=32)
    a = prompt(1, 5)
    b = a[: 3 * TOKENS_PER_BLOCK] + prompt(2, 2)
    c = a[: 2 * TOKENS_PER_BLOCK] + prompt(3, 3)

    first = stack.engine.run(a)
    assert (first.hits, first.load_ok, first.stored, first.store_ok) == (0, None, 5, True)
    assert first.gpu_matches
    second = stack.engine.run(b)
    assert (second.hits, second.load_ok, second.gpu_matches) == (
        3,
        True,
        True,
    )  # loaded == what compute gives
    assert second.stored == 2  # prepare_store was asked for blocks 3-4 only, both new
    third = stack.engine.run(c)
    assert (third.hits, third.load_ok, third.gpu_matches, third.stored) == (2, True, True, 3)

    for tokens, cached in (
        (a, 5),
        (b, 5),
        (c, 5),
        (prompt(4, 3), 0),
        (a[:TOKENS_PER_BLOCK] + prompt(5, 1), 1),
    ):
        assert stack.manager.lookup(offloaded_hashes(tokens)) == cached
    stored_events = [event for event in stack.manager.take_events() if not event.removed]
    assert [len(event.block_hashes) for event in stored_events] == [5, 2, 3]
    assert stored_events[0] == FakeOffloadingEvent(offloaded_hashes(a), TOKENS_PER_BLOCK, "KVTIER", False)
    assert (stack.manager.loading, stack.manager.reserved) == (0, 0)
    stack.store.check()


def test_a_load_after_a_partial_gpu_prefix_hit_fills_only_the_missing_gpu_blocks(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(host=32)
    a = prompt(7, 5)
    stack.engine.run(a)
    # three GPU blocks still cached: offloaded block 1 is half on the GPU, so its first GPU block is skipped
    again = stack.engine.run(a, gpu_cached_blocks=3)
    assert (again.hits, again.load_ok, again.gpu_matches) == (4, True, True)
    assert again.load_spec.num_blocks == 4


def test_blocks_round_trip_byte_exact_through_the_disk_tier(make_stack: StackFactory) -> None:
    stack = make_stack(host=2, disk=16)
    a = prompt(11, 6)
    stack.engine.run(a)
    tiers = [stack.store.location(key).tier for key in offloaded_hashes(a)]  # type: ignore[union-attr]
    assert tiers.count("host") == 2 and tiers.count("disk") == 4  # DRAM was full: demoted, not dropped
    again = stack.engine.run(a)
    assert (again.hits, again.load_ok, again.gpu_matches) == (6, True, True)
    assert {location.tier for location in again.load_spec.locations} == {"host", "disk"}
    assert stack.store.stats().tier("disk").bytes_read >= 4 * stack.store.block_bytes


def test_a_corrupted_disk_block_fails_its_load_and_is_never_served_again(make_stack: StackFactory) -> None:
    stack = make_stack(host=1, disk=16)
    a = prompt(13, 4)
    stack.engine.run(a)
    keys = offloaded_hashes(a)
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
    assert (failed.hits, failed.load_ok) == (4, False)
    assert stack.manager.lookup(keys) == victim  # dropped at complete_load: lookups stop before it
    assert stack.store.stats().tier("disk").corrupt == 1
    removed = [event for event in stack.manager.take_events() if event.removed]
    assert [event.block_hashes for event in removed] == [[keys[victim]]]
    assert len(stack.handle.failures) == 0  # the report was consumed

    healed = stack.engine.run(a)  # the prefix before it still loads, and the block is stored afresh
    assert (healed.hits, healed.load_ok, healed.gpu_matches) == (victim, True, True)
    assert stack.manager.lookup(keys) == 4
    stack.store.check()


def test_a_tiny_store_keeps_serving_correct_prefixes_under_pressure(make_stack: StackFactory) -> None:
    stack = make_stack(host=3, disk=5, policy="arc")
    prompts = [prompt(20 + seed, 4) for seed in range(4)]
    for round_ in range(3):
        for index, tokens in enumerate(prompts):
            outcome = stack.engine.run(
                tokens[: (index % 4 + 1) * TOKENS_PER_BLOCK] if round_ == 1 else tokens
            )
            assert outcome.load_ok in (None, True)
            assert outcome.gpu_matches
    stack.store.check()
    assert (stack.manager.loading, stack.manager.reserved) == (0, 0)
