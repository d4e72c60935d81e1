import pytest

from kvtier.policies import ArcPolicy


def test_a_second_access_moves_a_block_from_recency_to_frequency() -> None:
    policy = ArcPolicy(4)
    policy.store([1])
    assert not policy.in_t2(1)
    policy.touch([1])
    assert policy.in_t2(1)


def test_ghost_hits_adapt_the_target_size_of_the_recency_list() -> None:
    """Megiddo & Modha's REPLACE, hand-checked with c = 2."""
    policy = ArcPolicy(2)
    policy.store([1])
    policy.store([2])
    policy.touch([1])  # T1 = [2], T2 = [1]
    assert policy.store([3]) == ([3], [2])  # |T1| = 1 > p = 0: T1's LRU goes, to ghost B1
    assert policy.ghosts == (1, 0)
    # 2 comes back: a B1 hit means T1 was too small, p grows by max(|B2|/|B1|, 1) = 1
    assert policy.store([2]) == ([2], [1])  # now |T1| = 1 is not above p = 1: T2's LRU goes, to B2
    assert policy.p == pytest.approx(1.0)
    assert policy.in_t2(2) and policy.ghosts == (0, 1)
    # 1 comes back: a B2 hit shrinks p again, so T1's LRU (3) is the victim
    assert policy.store([1]) == ([1], [3])
    assert policy.p == pytest.approx(0.0)
    assert policy.in_t2(1) and policy.in_t2(2)
    assert policy.ghosts == (1, 0)


def test_frequency_protects_blocks_from_a_scan() -> None:
    policy = ArcPolicy(4)
    for key in (1, 2):
        policy.store([key])
        policy.touch([key])
    for key in range(100, 120):  # a one-pass scan of new heads
        policy.store([key])
    assert 1 in policy and 2 in policy


def test_a_protected_lru_entry_is_skipped_for_the_next_tail() -> None:
    policy = ArcPolicy(3)
    policy.store([1, 2])
    policy.touch([1])  # T2 = [1], T1 = [2]; 1 is 2's parent
    policy.store([3])
    policy.touch([3])  # T2 = [1, 3]
    policy.p = 3.0  # make REPLACE pick T2, whose LRU (1) is protected by its child 2
    assert policy.store([4]) == ([4], [3])
