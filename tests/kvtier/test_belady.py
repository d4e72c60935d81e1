import random

import pytest

from kvtier.belady import BeladyOracle, belady
from kvtier.policies import make_policy
from kvtier.replay import replay, working_set
from tests.kvtier.chains import random_chains

SPECS = ["lru", "arc", "s3fifo", "lru+tinylfu", "arc+tinylfu", "s3fifo+tinylfu"]


def test_belady_keeps_what_is_needed_soonest() -> None:
    # capacity 2; after request 1 the cache may keep two of {1, 2, 3}: 1 and 3 are needed next
    chains = [(1,), (2,), (3,), (1,), (3,), (2,)]
    assert belady(chains, 2).hits == 2  # the 1 and 3 of requests 4 and 5
    assert replay(chains, make_policy("lru", 2)).hits == 1  # only the 3 of request 5


def test_belady_bypasses_blocks_never_needed_again() -> None:
    chains = [(1,), (2,), (1,), (3,), (1,)]
    assert belady(chains, 1).hits == 2


def test_belady_counts_chains_as_prefixes() -> None:
    chains = [(1, 2, 3), (1, 2, 4), (1, 2, 3)]
    assert belady(chains, 3).hits == 2 + 3
    assert belady(chains, 2).hits == 2 + 2


@pytest.mark.parametrize("seed", range(12))
def test_no_policy_beats_belady_on_random_traces(seed: int) -> None:
    rng = random.Random(seed)
    chains = random_chains(rng, 300, max_new=rng.randint(1, 6), reuse=rng.uniform(0.3, 0.9))
    oracle = BeladyOracle(chains)
    for capacity in (1, 3, 8, 25, 60):
        bound = oracle.replay(capacity).hits
        for spec in SPECS:
            hits = replay(chains, make_policy(spec, capacity)).hits
            assert hits <= bound, f"{spec} at {capacity}: {hits} > Belady's {bound}"


def test_no_policy_beats_belady_on_the_real_trace(mooncake_chains: list[tuple[int, ...]]) -> None:
    chains = mooncake_chains[:3000]
    oracle = BeladyOracle(chains)
    distinct = working_set(chains)
    for fraction in (0.01, 0.03, 0.1):
        capacity = round(distinct * fraction)
        bound = oracle.replay(capacity)
        for spec in ("lru", "arc", "s3fifo", "lru+tinylfu"):
            result = replay(chains, make_policy(spec, capacity))
            assert result.hits <= bound.hits, f"{spec} at {fraction}"
        assert bound.hits > 0
    unlimited = oracle.replay(distinct)
    assert unlimited.hits == replay(chains, make_policy("lru", distinct)).hits
