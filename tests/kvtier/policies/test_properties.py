"""Properties every policy (with or without admission) keeps under random prefix-chain workloads."""

import random

import pytest

from kvtier.blocks import BlockHash
from kvtier.policies import make_policy
from kvtier.replay import replay
from tests.kvtier.chains import random_chains

SPECS = ["lru", "arc", "s3fifo", "lru+tinylfu", "arc+tinylfu", "s3fifo+tinylfu"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("seed", range(4))
def test_capacity_chain_closure_and_pins_hold_under_random_requests(spec: str, seed: int) -> None:
    rng = random.Random(seed)
    chains = random_chains(rng, 400)
    capacity = rng.randint(3, 40)
    policy = make_policy(spec, capacity)
    pinned: set[BlockHash] = set()
    for chain in chains:
        cached = policy.lookup(chain)
        stored, evicted = policy.store(chain[cached:], chain[cached - 1] if cached else None)
        policy.touch(chain[:cached])
        assert len(policy) <= capacity
        assert not pinned & set(evicted), "a pinned block was evicted"
        assert not set(stored) & set(evicted)
        for key in policy:
            parent = policy.parent_of(key)
            # a block is only ever evicted after its children: every cached block's parent is cached
            assert parent is None or parent in policy, f"{key!r} is cached without its parent {parent!r}"
        # the cached blocks of a chain are a prefix of it
        assert all(key not in policy for key in chain[policy.lookup(chain) :])
        if rng.random() < 0.1 and len(pinned) < capacity // 2:
            key = rng.choice(list(policy))
            policy.pin(key)
            pinned.add(key)
        elif pinned and rng.random() < 0.05:
            key = pinned.pop()
            policy.unpin(key)
    assert pinned <= set(policy)


@pytest.mark.parametrize("spec", SPECS)
def test_unlimited_capacity_never_evicts(spec: str) -> None:
    chains = random_chains(random.Random(9), 300)
    distinct = len({key for chain in chains for key in chain})
    policy = make_policy(spec, distinct)
    result = replay(chains, policy)
    assert policy.evictions == 0 and policy.rejections == 0
    assert len(policy) == distinct
    seen: set[int] = set()
    expected = 0
    for chain in chains:
        expected += sum(key in seen for key in chain)
        seen.update(chain)
    assert result.hits == expected
