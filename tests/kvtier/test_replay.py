import pytest

from kvtier.policies import make_policy
from kvtier.replay import replay, working_set


def test_hits_are_the_leading_cached_blocks_of_each_request() -> None:
    chains = [(1, 2, 3), (1, 2, 4), (1, 5), (6,)]
    result = replay(chains, make_policy("lru", 100))
    assert (result.hits, result.accesses, result.requests) == (2 + 1, 3 + 3 + 2 + 1, 4)
    assert result.hit_rate == pytest.approx(3 / 9)
    assert working_set(chains) == 6


def test_operations_count_every_block_looked_up_stored_and_touched() -> None:
    result = replay([(1, 2), (1, 2), (1, 3)], make_policy("lru", 10))
    # (1, 2): lookup stops at 1, stores 2 -> 3; (1, 2): 2 looked up, 2 touched -> 4; (1, 3): 2 + 1 + 1 -> 4
    assert result.operations == 11
    assert result.ops_per_s > 0


def test_unlimited_capacity_gives_the_traces_36_6_percent(mooncake_chains: list[tuple[int, ...]]) -> None:
    distinct = working_set(mooncake_chains)
    assert distinct == 182_790
    result = replay(mooncake_chains, make_policy("lru", distinct))
    assert result.accesses == 288_500
    assert result.hits == 105_710
    assert result.hit_rate == pytest.approx(0.366, abs=0.001)
