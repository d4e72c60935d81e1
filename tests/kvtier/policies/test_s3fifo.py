from kvtier.policies import S3FifoPolicy


def test_one_hit_wonders_leave_through_the_small_queue_and_reused_blocks_reach_main() -> None:
    policy = S3FifoPolicy(4, small_ratio=0.25)  # small queue target: 1 block; ghost: 3 keys
    for key in (1, 2, 3, 4):
        policy.store([key])
    policy.touch([1])
    assert policy.store([5]) == ([5], [2])  # 1 was hit while small: moved to main; 2 never was
    assert policy.queue_of(1) == "main" and policy.queue_of(2) == "ghost"
    assert policy.store([6]) == ([6], [3])
    assert policy.queue_of(3) == "ghost"
    # 2 comes back while remembered: it skips the small queue
    assert policy.store([2]) == ([2], [4])
    assert policy.queue_of(2) == "main"
    assert policy.queue_of(4) == "ghost"
    assert policy.queue_of(1) == "main"  # the oldest block survived four one-hit wonders


def test_main_gives_a_hit_block_a_second_chance() -> None:
    policy = S3FifoPolicy(4, small_ratio=0.25)
    for key in (1, 2, 3, 4):
        policy.store([key])
    policy.touch([1, 2, 3, 4])
    assert policy.store([5]) == ([5], [1])  # everything moved to main, 1 first: it goes
    policy.touch([2, 5])
    # 5 moves to main, the small queue is empty, main's oldest (2) was hit: reinserted; 3 goes
    assert policy.store([6]) == ([6], [3])
    assert policy.queue_of(2) == "main"


def test_a_protected_block_moves_on_instead_of_being_evicted() -> None:
    policy = S3FifoPolicy(3, small_ratio=0.34)
    policy.store([1])
    policy.store([2, 3])  # insertion order: 1, then 3 before 2
    policy.store([4], parent=1)  # 1 is now a parent: it moves to main, 3 (a tail) goes
    assert 1 in policy and 3 not in policy
    assert policy.queue_of(1) == "main"


def test_ghost_size_is_bounded() -> None:
    policy = S3FifoPolicy(10)
    for key in range(1000):
        policy.store([key])
    assert len(policy._ghost) <= policy.ghost_capacity == 9
