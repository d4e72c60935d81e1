import math

import pytest

from agents.performance.forecast import Forecast, ForecastMethod
from agents.performance.predictive import (
    LAST,
    PredictiveScaler,
    PredictiveSettings,
    ReplicaPool,
    capacity_under_slowdown,
    drain_seconds,
    latency_correction,
    predictive_decision,
    replicas_for_rate,
    slowdown_factor,
)

SATURATION_RPS = 10.0


def model(rate: float) -> tuple[float, float]:
    """A replica's (p95 TTFT, p95 ITL) at a rate: a queue that saturates at 10 req/s."""
    if rate >= SATURATION_RPS:
        return math.inf, math.inf
    ttft = 0.2 + 0.1 / (1 - rate / SATURATION_RPS)
    return ttft, 0.03 * (1 + 0.2 * rate / SATURATION_RPS)


def slower(factor: float, rate: float) -> tuple[float, float]:
    """The same replica with every step `factor` times as long."""
    ttft, itl = model(rate * factor)
    return factor * ttft, factor * itl


def test_correction_is_smoothed_with_the_previous_value_and_the_larger_ratio_binds() -> None:
    measured = {"expected_ttft_s": 1.0, "expected_itl_s": 0.05}
    raw = latency_correction(observed_ttft_s=1.2, observed_itl_s=0.055, smoothing=1.0, **measured)
    assert raw == pytest.approx(1.2)
    assert latency_correction(
        observed_ttft_s=1.2, observed_itl_s=0.055, previous=1.0, smoothing=0.5, **measured
    ) == pytest.approx(1.1)
    itl_binds = latency_correction(observed_ttft_s=0.9, observed_itl_s=0.07, smoothing=1.0, **measured)
    assert itl_binds == pytest.approx(1.4)


def test_correction_is_clipped_and_unmeasurable_windows_keep_the_previous_value() -> None:
    expected = {"expected_ttft_s": 1.0, "expected_itl_s": 0.05}
    assert latency_correction(observed_ttft_s=30.0, observed_itl_s=None, smoothing=1.0, **expected) == 3.0
    assert latency_correction(observed_ttft_s=0.1, observed_itl_s=None, smoothing=1.0, **expected) == 0.5
    for observed in (None, math.inf, 0.0, math.nan):
        assert (
            latency_correction(observed_ttft_s=observed, observed_itl_s=None, previous=1.3, **expected) == 1.3
        )
    assert (
        latency_correction(
            observed_ttft_s=1.0,
            expected_ttft_s=math.inf,
            observed_itl_s=None,
            expected_itl_s=None,
            previous=1.7,
        )
        == 1.7
    )
    with pytest.raises(ValueError, match="bounds"):
        latency_correction(
            observed_ttft_s=1.0,
            expected_ttft_s=1.0,
            observed_itl_s=None,
            expected_itl_s=None,
            bounds=(1.2, 3.0),
        )


def test_the_fitted_slowdown_stays_put_across_loads_where_the_plain_ratio_does_not() -> None:
    for rate in (1.0, 4.0, 7.0, 8.5):
        observed_ttft, observed_itl = slower(1.15, rate)
        expected_ttft, expected_itl = model(rate)
        plain = observed_ttft / expected_ttft
        fitted = slowdown_factor(observed_ttft, rate, lambda r: model(r)[0])
        assert fitted == pytest.approx(1.15, rel=1e-6)
        correction = latency_correction(
            observed_ttft_s=observed_ttft,
            expected_ttft_s=expected_ttft,
            observed_itl_s=observed_itl,
            expected_itl_s=expected_itl,
            smoothing=1.0,
            per_replica_rps=rate,
            expected_ttft_at=lambda r: model(r)[0],
            expected_itl_at=lambda r: model(r)[1],
        )
        assert correction == pytest.approx(1.15, rel=1e-6)
        if rate >= 7.0:
            assert plain > 1.4  # queueing near saturation inflates the plain ratio
    assert slowdown_factor(math.nan, 5.0, lambda r: model(r)[0]) is None


def test_a_saturated_replica_raises_the_correction_to_the_least_slowdown_that_saturates_it() -> None:
    assert slowdown_factor(math.inf, 5.0, lambda r: model(r)[0]) == pytest.approx(2.0)
    saturated = {
        "observed_ttft_s": math.inf,
        "expected_ttft_s": model(5.0)[0],
        "observed_itl_s": None,
        "expected_itl_s": None,
        "smoothing": 1.0,
        "per_replica_rps": 5.0,
        "expected_ttft_at": lambda r: model(r)[0],
    }
    assert latency_correction(previous=1.0, **saturated) == pytest.approx(2.0)
    # A bound below what is already known says nothing new.
    assert latency_correction(previous=2.5, **saturated) == 2.5


def test_capacity_of_a_slower_replica_is_lost_more_than_in_proportion() -> None:
    nominal = capacity_under_slowdown(
        1.0, expected_latency=model, ttft_slo_s=1.2, itl_slo_s=1.0, upper_rps=2 * SATURATION_RPS
    )
    slow = capacity_under_slowdown(
        1.15, expected_latency=model, ttft_slo_s=1.2, itl_slo_s=1.0, upper_rps=2 * SATURATION_RPS
    )
    # Analytically: a * (0.2 + 0.1 / (1 - a*rate/10)) = 1.2  ->  rate = 10 / a * (1 - 0.1 / (1.2 / a - 0.2)).
    assert nominal == pytest.approx(9.0, rel=1e-6)
    assert slow == pytest.approx(10 / 1.15 * (1 - 0.1 / (1.2 / 1.15 - 0.2)), rel=1e-6)
    assert nominal / slow > 1.15
    assert (
        capacity_under_slowdown(10.0, expected_latency=model, ttft_slo_s=1.2, itl_slo_s=1.0, upper_rps=20)
        == 0
    )


def test_replicas_for_rate_rounds_up_and_keeps_floor_and_ceiling() -> None:
    assert replicas_for_rate(10.0, 5.0) == 2
    assert replicas_for_rate(10.01, 5.0) == 3
    assert replicas_for_rate(10.0, 5.0, correction=1.25) == 3
    assert replicas_for_rate(10.0, 5.0, headroom=0.1) == 3
    assert replicas_for_rate(0.0, 5.0, floor=2) == 2
    assert replicas_for_rate(100.0, 5.0, ceiling=8) == 8
    with pytest.raises(ValueError, match="non-negative"):
        replicas_for_rate(-1.0, 5.0)
    with pytest.raises(ValueError, match="positive"):
        replicas_for_rate(1.0, 0.0)
    with pytest.raises(ValueError, match="floor"):
        replicas_for_rate(1.0, 5.0, floor=3, ceiling=2)


def flat_then_peak() -> Forecast:
    """10 req/s, except 40 req/s in the interval [1200, 1800)."""
    mean = (10.0, 10.0, 40.0, 10.0)
    return Forecast(ForecastMethod.SEASONAL_NAIVE, 0.0, 600.0, mean, mean, tuple(2 * m for m in mean))


def test_decision_sizes_for_the_forecast_peak_one_lead_ahead() -> None:
    common = {
        "interval_s": 600.0,
        "capacity_rps_per_replica": 5.0,
        "correction": 1.0,
        "floor": 1,
        "ceiling": None,
        "current_replicas": 2,
        "headroom": 0.0,
        "observed_headroom": 0.0,
    }
    # At t=300 with a 300 s lead, the span [600, 1200) sees only 10 req/s: 2 replicas.
    assert (
        predictive_decision(flat_then_peak(), now_s=300.0, lead_s=300.0, observed_rps=10.0, **common).replicas
        == 2
    )
    # At t=700 the span [1000, 1600) reaches the peak: provisioned before it arrives.
    ahead = predictive_decision(flat_then_peak(), now_s=700.0, lead_s=300.0, observed_rps=10.0, **common)
    assert ahead.replicas == 8 and ahead.forecast_peak_rps == 40.0
    assert "8" in ahead.reason
    # The level scales the forecast; the upper bound may be asked for instead of the mean.
    assert (
        predictive_decision(
            flat_then_peak(), now_s=300.0, lead_s=300.0, observed_rps=0.0, level=1.5, **common
        ).replicas
        == 3
    )
    assert (
        predictive_decision(
            flat_then_peak(), now_s=300.0, lead_s=300.0, observed_rps=0.0, use_upper=True, **common
        ).replicas
        == 4
    )


def test_decision_never_goes_below_what_the_measured_rate_needs_nor_the_floor() -> None:
    common = {"interval_s": 600.0, "capacity_rps_per_replica": 5.0, "current_replicas": 2}
    measured = predictive_decision(
        flat_then_peak(),
        now_s=300.0,
        lead_s=300.0,
        observed_rps=31.0,
        correction=1.0,
        floor=1,
        ceiling=None,
        headroom=0.0,
        observed_headroom=0.0,
        **common,
    )
    assert measured.replicas == 7 and measured.observed_rps == 31.0
    # A replica 25% slower than modelled carries 4 req/s: 31 req/s need 8.
    corrected = predictive_decision(
        flat_then_peak(),
        now_s=300.0,
        lead_s=300.0,
        observed_rps=31.0,
        correction=1.25,
        floor=1,
        ceiling=None,
        headroom=0.0,
        observed_headroom=0.0,
        **common,
    )
    assert corrected.replicas == 8 and corrected.capacity_rps == pytest.approx(4.0)
    idle = predictive_decision(
        None, now_s=0.0, lead_s=300.0, observed_rps=None, correction=1.0, floor=3, ceiling=None, **common
    )
    assert idle.replicas == 3 and "no forecast" in idle.reason
    # A forecast that ends before the span leaves the measured rate alone; the ceiling caps.
    stale = predictive_decision(
        flat_then_peak(),
        now_s=5000.0,
        lead_s=300.0,
        observed_rps=50.0,
        correction=1.0,
        floor=1,
        ceiling=6,
        headroom=0.0,
        observed_headroom=0.0,
        **common,
    )
    assert stale.replicas == 6 and stale.forecast_peak_rps == 0.0


def test_pool_launches_after_provisioning_and_drains_before_release() -> None:
    pool = ReplicaPool(provisioning_s=180.0, initial_replicas=2)
    pool.scale_to(0.0, 4, drain_s=10.0)
    assert (
        pool.scale == 4 and pool.serving(0.0) == 2 and pool.serving(179.0) == 2 and pool.serving(180.0) == 4
    )
    # Scaling down while launches are pending cancels those first: nothing serving is touched.
    pool.scale_to(60.0, 3, drain_s=10.0)
    assert pool.serving(200.0) == 3 and pool.draining(200.0) == 0
    # A serving replica removed stops taking requests at once, and is released after its drain.
    pool.scale_to(300.0, 2, drain_s=10.0)
    assert pool.serving(300.0) == 2 and pool.draining(305.0) == 1 and pool.draining(310.0) == 0
    billed = pool.replica_seconds(400.0)
    # Two replicas all along, one launched at 0 and released at 310, one launched at 0 and cancelled at 60.
    assert billed == pytest.approx(2 * 400.0 + 310.0 + 60.0)
    assert pool.launches == 2


def test_drain_time_is_the_longest_request_in_flight_and_bounded() -> None:
    assert drain_seconds(ttft_p95_s=1.0, itl_s=0.05, max_output_tokens=200) == pytest.approx(11.0)
    assert drain_seconds(ttft_p95_s=math.inf, itl_s=0.05, max_output_tokens=200, timeout_s=90.0) == 90.0


def scaler(**settings: object) -> PredictiveScaler:
    return PredictiveScaler(
        PredictiveSettings(methods=(ForecastMethod.SEASONAL_NAIVE,), **settings),  # type: ignore[arg-type]
        capacity_rps_per_replica=9.0,
        expected_latency=model,
        initial_replicas=2,
        slo_ttft_p95_s=1.2,
        slo_itl_p95_s=1.0,
    )


def run(
    policy: PredictiveScaler, start_s: float, seconds: float, rate: float, truth: float = 1.0
) -> list[int]:
    """Windows of `rate` req/s on replicas `truth` times slower than modelled; a decision every 15 s."""
    decisions: list[int] = []
    t = start_s
    while t < start_s + seconds - 1e-9:
        t += 15.0
        if round(t) % 60 == 0:
            replicas = max(policy.last_decision.replicas if policy.last_decision else 2, 1)
            ttft, itl = slower(truth, rate / replicas)
            policy.observe_window(
                end_s=t,
                duration_s=60.0,
                requests=rate * 60.0,
                replica_seconds=replicas * 60.0,
                ttft_p95_s=ttft,
                itl_p95_s=itl,
            )
        decisions.append(policy.decide(t).replicas)
    return decisions


def test_scaler_scales_up_at_once_and_down_gradually_after_the_hold() -> None:
    policy = scaler(cold_headroom=0.0, scale_down_delay_s=180.0, scale_down_step=0.1)
    run(policy, 0.0, 600.0, rate=18.0)
    assert policy.last_decision is not None and policy.last_decision.replicas == 2
    up = run(policy, 600.0, 120.0, rate=180.0)
    assert max(up) == 20 and up.index(20) <= 4  # the first decision after the measurement
    down = run(policy, 720.0, 1200.0, rate=18.0)
    # Nothing is released during the hold; after it, at most 10% (at least one) per decision.
    assert set(down[: 180 // 15 - 1]) == {20}
    steps = [before - after for before, after in zip([20, *down], down, strict=False)]
    assert all(
        step <= max(1, math.ceil(0.1 * before)) for step, before in zip(steps, [20, *down], strict=False)
    )
    assert down[-1] == 2 and policy.predictor == LAST


def test_scaler_learns_that_replicas_are_slower_than_modelled() -> None:
    policy = scaler(cold_headroom=0.0)
    decisions = run(policy, 0.0, 1200.0, rate=36.0, truth=1.15)
    assert policy.slowdown == pytest.approx(1.15, rel=1e-3)
    expected = capacity_under_slowdown(
        1.15, expected_latency=model, ttft_slo_s=1.2, itl_slo_s=1.0, upper_rps=20
    )
    assert policy.corrected_capacity_rps == pytest.approx(expected, rel=1e-3)
    assert decisions[-1] == math.ceil(36.0 / expected)
    assert decisions[0] == 2  # before any measurement: the floor


def test_headroom_is_calibrated_on_the_workloads_own_scatter() -> None:
    policy = scaler(min_calibration_windows=30, recalibrate_s=60.0, coverage=0.9)
    rates = [30.0 * (1.1 if index % 8 >= 4 else 0.9) for index in range(120)]
    for index, rate in enumerate(rates):
        end = 60.0 * (index + 1)
        policy.observe_window(
            end_s=end,
            duration_s=60.0,
            requests=rate * 60,
            replica_seconds=600.0,
            ttft_p95_s=None,
            itl_p95_s=None,
        )
        policy.decide(end)
    # Predicted one lead (4 windows) ahead, persistence is 1.1/0.9 short on every other window: that is the
    # 90% quantile of measured over predicted.
    assert policy.headroom == pytest.approx(1.1 / 0.9 - 1, rel=1e-6)
    assert policy.predicted_rps == pytest.approx(rates[-1] * 1.1 / 0.9, rel=1e-6)
