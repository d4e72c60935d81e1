import pytest

from optiinfra.bench.kpa import KpaAutoscaler, KpaSettings

TICK_S = 15.0


def feed(scaler: KpaAutoscaler, start_s: float, seconds: float, metric: float, ready: int) -> list[int]:
    """Decisions every tick over [start_s, start_s + seconds), all at the same metric and ready pods."""
    decisions = []
    t = start_s
    while t < start_s + seconds - 1e-9:
        decisions.append(scaler.decide(t, metric, ready))
        t += TICK_S
    return decisions


def test_steady_metric_asks_for_metric_over_target_pods() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=6)
    assert feed(scaler, 0.0, 300.0, metric=60.0, ready=6)[-1] == 6
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=4)
    assert feed(scaler, 0.0, 300.0, metric=61.0, ready=4)[-1] == 7
    assert not scaler.in_panic


def test_tolerance_holds_the_scale_within_ten_percent() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=10)
    # 105 in flight wants 11 pods: 10% more than the 10 there are, within the tolerance.
    assert set(feed(scaler, 0.0, 300.0, metric=105.0, ready=10)) == {10}
    # 115 wants 12: beyond it.
    assert feed(scaler, 300.0, 300.0, metric=115.0, ready=10)[-1] == 12


def test_scale_up_is_capped_at_twice_the_ready_pods_per_decision() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=4)
    assert scaler.decide(0.0, 1000.0, 4) == 8
    assert scaler.decide(TICK_S, 1000.0, 8) == 16
    assert scaler.decide(2 * TICK_S, 1000.0, 16) == 32


def test_panic_starts_at_twice_the_ready_pods_and_follows_the_short_window() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=4)
    assert set(feed(scaler, 0.0, 180.0, metric=40.0, ready=4)) == {4}
    # One tick at 120: the panic window (4 ticks) averages 60, 6 pods, 1.5x the ready 4: no panic, and the
    # stable window (12 ticks) averages 47: 5 pods.
    assert scaler.decide(180.0, 120.0, 4) == 5
    assert not scaler.in_panic
    # A second tick: the panic window averages 80 -> 8 pods = 2x the 4 ready: panic. The stable window
    # (12 ticks) averages 53, 6 pods; the panic recommendation wins.
    assert scaler.decide(195.0, 120.0, 4) == 8
    assert scaler.in_panic


def test_panic_never_scales_down_and_ends_a_stable_window_after_the_surge() -> None:
    settings = KpaSettings(target_per_pod=10.0, scale_down_delay_s=0.0)
    scaler = KpaAutoscaler(settings, initial_replicas=4)
    feed(scaler, 0.0, 180.0, metric=40.0, ready=4)
    assert scaler.decide(180.0, 200.0, 4) == 8
    assert scaler.in_panic  # the last tick was over the threshold at t=180
    # The surge is gone; while panicking (the pods being ready as asked) the scale never goes down ...
    held = []
    t = 195.0
    while t < 360.0:
        held.append(scaler.decide(t, 0.0, scaler.current))
        assert scaler.in_panic
        t += TICK_S
    assert held == sorted(held) and held[0] >= 8
    # ... until a whole stable window has passed since the metric was last over the threshold; then it
    # halves at most per decision (the scale-down rate).
    peak = held[-1]
    assert scaler.decide(360.0, 0.0, peak) == peak // 2
    assert not scaler.in_panic


def test_scale_down_waits_for_the_largest_recommendation_of_the_last_300_s() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0), initial_replicas=10)
    feed(scaler, 0.0, 300.0, metric=100.0, ready=10)
    # The load halves at t=300: the stable average keeps recommending 10 for a few ticks, then less; the
    # scale holds at 10 until 300 s after the last recommendation of 10.
    held = feed(scaler, 300.0, 300.0, metric=50.0, ready=10)
    assert set(held) == {10}
    later = feed(scaler, 600.0, 300.0, metric=50.0, ready=10)
    assert later[-1] == 5
    assert later[0] == 10  # not all at once: the 300 s window still held a 10 from t=300
    assert not scaler.in_panic


def test_min_and_max_replicas_bound_the_scale() -> None:
    scaler = KpaAutoscaler(KpaSettings(target_per_pod=10.0, min_replicas=2, max_replicas=6), 3)
    assert feed(scaler, 0.0, 900.0, metric=0.0, ready=3)[-1] == 2
    assert feed(scaler, 900.0, 300.0, metric=1000.0, ready=3)[-1] == 6


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="target_per_pod"):
        KpaSettings(target_per_pod=0.0)
    with pytest.raises(ValueError, match="panic window"):
        KpaSettings(target_per_pod=1.0, panic_window_s=300.0)
    with pytest.raises(ValueError, match="min_replicas"):
        KpaSettings(target_per_pod=1.0, min_replicas=3, max_replicas=2)
