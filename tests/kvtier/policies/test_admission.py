import pytest

from kvtier.policies import ArcPolicy, LruPolicy, S3FifoPolicy, TinyLfu, make_policy


def test_a_cold_newcomer_is_refused_in_favour_of_a_hot_victim() -> None:
    policy = LruPolicy(1, TinyLfu(1))
    policy.store([1])
    policy.touch([1])
    policy.touch([1])
    policy.touch([1])
    assert policy.store([2]) == ([], [])
    assert policy.rejections == 1 and 1 in policy
    # each refused attempt still counts: 2 gets in once it is seen as often as 1
    assert policy.store([2]) == ([], [])
    assert policy.store([2]) == ([], [])
    assert policy.store([2]) == ([2], [1])


def test_strict_admission_refuses_ties() -> None:
    lenient = LruPolicy(1, TinyLfu(1))
    strict = LruPolicy(1, TinyLfu(1, strict=True))
    for policy in (lenient, strict):
        policy.store([1])
    assert lenient.store([2]) == ([2], [1])
    assert strict.store([2]) == ([], [])


def test_a_refused_block_stops_the_rest_of_its_chain() -> None:
    policy = LruPolicy(2, TinyLfu(2))
    policy.store([1])
    policy.store([2])
    policy.touch([1, 2])
    policy.touch([1, 2])
    assert policy.store([3, 4, 5]) == ([], [])
    assert sorted(policy) == [1, 2]


def test_the_doorkeeper_absorbs_first_accesses_and_aging_halves_counts() -> None:
    sketch = TinyLfu(16, sample_factor=1)
    sketch.record(7)
    assert sketch.estimate(7) == 1
    for _ in range(5):
        sketch.record(7)
    assert sketch.estimate(7) == 6
    assert sketch.estimate(8) == 0
    for key in range(100, 100 + sketch.sample_size - 6):
        sketch.record(key)
    assert sketch.resets == 1
    assert sketch.estimate(7) == 2  # five sketch counts halved, doorkeeper cleared


def test_estimates_never_undercount() -> None:
    sketch = TinyLfu(64, sample_factor=1000)
    counts = {key: (key % 7) + 1 for key in range(500)}
    for key, count in counts.items():
        for _ in range(count):
            sketch.record(key)
    assert all(sketch.estimate(key) >= min(count, 15) for key, count in counts.items())


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("lru", LruPolicy), ("ARC", ArcPolicy), ("s3fifo", S3FifoPolicy), ("s3fifo+tinylfu", S3FifoPolicy)],
)
def test_policies_by_name(spec: str, kind: type) -> None:
    policy = make_policy(spec, 10)
    assert isinstance(policy, kind) and policy.capacity == 10
    assert (policy.admission is not None) == ("+" in spec)


@pytest.mark.parametrize("spec", ["mru", "lru+bloom"])
def test_unknown_names_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        make_policy(spec, 10)
