"""The prefix-cache replay reproduces the Mooncake trace's published hit rate and behaves like vLLM's
automatic prefix caching: prefix-only hits, LRU eviction with a request's tail blocks going first."""

import pytest

from optiinfra.sim.traffic import PrefixCache, Request, replay_prefix_hits
from optiinfra.sim.traffic.prefix_cache import mean_reuse_gap_s


def _requests(*chains: tuple[int, ...]) -> list[Request]:
    return [
        Request(arrival_s=float(index), prompt_tokens=512 * len(chain), output_tokens=1, block_hashes=chain)
        for index, chain in enumerate(chains)
    ]


def test_unlimited_cache_reproduces_the_mooncake_hit_rate(mooncake_requests: list[Request]) -> None:
    result = replay_prefix_hits(mooncake_requests, capacity_blocks=None)
    assert result.block_queries == 288_500
    assert result.hit_rate == pytest.approx(0.366, abs=0.001)
    assert result.evicted_blocks == 0


def test_bounded_lru_hits_less_and_more_capacity_never_hurts(mooncake_requests: list[Request]) -> None:
    unlimited = replay_prefix_hits(mooncake_requests, capacity_blocks=None).hit_rate
    capacities = [1_000, 5_000, 20_000, 50_000]
    rates = [
        replay_prefix_hits(mooncake_requests, capacity_blocks=capacity).hit_rate for capacity in capacities
    ]
    assert all(rate < unlimited for rate in rates)
    assert rates == sorted(rates)
    assert rates[0] < 0.5 * unlimited < rates[-1]


def test_lookup_stops_at_the_first_miss() -> None:
    result = replay_prefix_hits(_requests((1, 2, 3), (1, 9, 3)))
    assert (result.block_queries, result.block_hits) == (6, 1)


def test_a_request_frees_its_tail_first_so_the_shared_prefix_survives() -> None:
    cache = PrefixCache(capacity_blocks=3)
    cache.admit((1, 2, 3))
    cache.admit((4,))
    assert 3 not in cache
    assert (1 in cache, 2 in cache, 4 in cache) == (True, True, True)
    assert cache.cached_prefix_length((1, 2, 3)) == 2


def test_a_hit_refreshes_recency() -> None:
    result = replay_prefix_hits(_requests((1,), (2,), (1,), (3,), (1,)), capacity_blocks=2)
    assert result.block_hits == 2
    assert result.evicted_blocks == 1


def test_zero_capacity_never_hits_and_negative_capacity_is_refused() -> None:
    assert replay_prefix_hits(_requests((1, 2), (1, 2)), capacity_blocks=0).block_hits == 0
    with pytest.raises(ValueError, match="non-negative"):
        PrefixCache(capacity_blocks=-1)


def test_no_blocks_means_a_zero_hit_rate() -> None:
    assert replay_prefix_hits([]).hit_rate == 0.0


def test_reuse_gap_is_the_block_weighted_age_of_the_hit_prefix(mooncake_requests: list[Request]) -> None:
    requests = [
        Request(arrival_s=0.0, prompt_tokens=1_024, output_tokens=1, block_hashes=(1, 2)),
        Request(arrival_s=10.0, prompt_tokens=512, output_tokens=1, block_hashes=(1,)),
        Request(arrival_s=40.0, prompt_tokens=1_536, output_tokens=1, block_hashes=(1, 2, 3)),
    ]
    assert mean_reuse_gap_s(requests) == pytest.approx((1 * 10 + 2 * 40) / 3)
    assert mean_reuse_gap_s(requests[:1]) is None
    assert mean_reuse_gap_s(mooncake_requests) == pytest.approx(223.5, abs=0.1)
