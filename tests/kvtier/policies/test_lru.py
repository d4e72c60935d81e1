from kvtier.policies import LruPolicy


def test_the_least_recently_used_head_goes_first() -> None:
    policy = LruPolicy(3)
    for key in (1, 2, 3):
        assert policy.store([key]) == ([key], [])
    policy.touch([1])
    assert policy.store([4]) == ([4], [2])
    assert policy.store([5]) == ([5], [3])
    assert sorted(policy) == [1, 4, 5]
    assert policy.evictions == 2


def test_a_chain_loses_its_tail_before_its_head_even_when_the_head_is_older() -> None:
    policy = LruPolicy(3)
    assert policy.store([1, 2, 3]) == ([1, 2, 3], [])
    policy.touch([2, 3])  # recency, oldest first: 1, 3, 2 - the head is the least recent
    assert policy.store([10]) == ([10], [3])  # 1 and 2 have cached children
    assert policy.store([11]) == ([11], [2])
    assert policy.store([12]) == ([12], [1])  # only now is the head a tail
    assert sorted(policy) == [10, 11, 12]


def test_stored_chains_and_touches_keep_tails_at_the_eviction_end() -> None:
    policy = LruPolicy(4)
    policy.store([1, 2, 3, 4])
    assert list(policy._order) == [4, 3, 2, 1]  # stored tail first: the head is the most recent
    policy.touch([1, 2])
    assert list(policy._order) == [4, 3, 2, 1]


def test_a_run_is_stored_after_a_cached_parent_and_refused_after_a_missing_one() -> None:
    policy = LruPolicy(8)
    policy.store([1, 2])
    assert policy.store([3, 4], parent=2) == ([3, 4], [])
    assert policy.parent_of(3) == 2
    assert policy.store([6], parent=5) == ([], [])
    assert policy.lookup([1, 2, 3, 4, 9]) == 4
    assert policy.lookup([2, 3]) == 2
    assert policy.lookup([9, 1]) == 0


def test_pinned_blocks_are_skipped_and_a_fully_pinned_cache_refuses_newcomers() -> None:
    policy = LruPolicy(2)
    policy.store([1])
    policy.store([2])
    policy.pin(1)
    assert policy.store([3]) == ([3], [2])
    policy.pin(3)
    assert policy.store([4]) == ([], [])
    assert policy.rejections == 1
    policy.unpin(3)
    assert policy.store([4]) == ([4], [3])
    assert 1 in policy


def test_remove_drops_a_block_and_its_children_become_tails() -> None:
    policy = LruPolicy(4)
    policy.store([1, 2, 3])
    assert policy.remove(2)
    assert not policy.remove(2)
    assert policy.lookup([1, 2, 3]) == 1
    assert policy.is_protected(2)  # its cached child still holds it, should it come back
    assert policy.evict() == 3
    assert not policy.is_protected(2)
    assert policy.evict() == 1
    assert policy.evict() is None
