import pytest

from kvtier.stats import LatencyRecorder, TierStats


def test_percentiles_are_nearest_rank_over_the_samples() -> None:
    recorder = LatencyRecorder()
    for value in range(1, 101):
        recorder.record(value / 1000)
    summary = recorder.snapshot()
    assert (summary.count, summary.p50_s, summary.p99_s, summary.max_s) == (100, 0.050, 0.099, 0.100)
    assert summary.mean_s == pytest.approx(0.0505)
    assert recorder.percentile(100) == 0.1 and recorder.percentile(0) == 0.001


def test_the_reservoir_stays_bounded_and_representative() -> None:
    recorder = LatencyRecorder(reservoir=500, seed=1)
    for index in range(100_000):
        recorder.record(float(index % 1000))
    assert recorder.count == 100_000 and len(recorder._samples) == 500
    assert recorder.total_s == pytest.approx(100 * sum(range(1000)))
    assert 400 <= recorder.percentile(50) <= 600  # the uniform 0..999 has its median near 500
    assert recorder.percentile(99) >= 950


def test_empty_recorders_and_bad_arguments() -> None:
    assert LatencyRecorder().snapshot().p99_s == 0.0
    with pytest.raises(ValueError, match="percentile"):
        LatencyRecorder().percentile(101)
    with pytest.raises(ValueError, match="reservoir"):
        LatencyRecorder(0)


def test_tier_hit_rate_and_byte_accounting() -> None:
    stats = TierStats("host", hits=3, misses=1)
    assert stats.hit_rate == 0.75
    snapshot = stats.snapshot(used_blocks=5, capacity_blocks=8, block_bytes=1024)
    assert (snapshot.used_bytes, snapshot.capacity_bytes, snapshot.hit_rate) == (5 * 1024, 8 * 1024, 0.75)
    assert TierStats("disk").hit_rate == 0.0
