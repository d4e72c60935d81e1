"""The synthetic generator gives what it is asked for (cycles, burstiness, token lengths, prefix reuse),
the same traffic for the same seed, and, calibrated on the real traces, traffic that looks like them."""

import dataclasses
import itertools
import math
import statistics
from typing import Any

import pytest

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic import (
    Request,
    TokenLengthMix,
    TrafficGenerator,
    TrafficProfile,
    calibrate_from,
    default_generator,
    replay_prefix_hits,
)
from optiinfra.sim.traffic.generator import DEFAULT_MIX_POINTS
from optiinfra.sim.traffic.models import interarrival_cv

DAY_S = 86_400.0
MIX = TokenLengthMix(((300, 20), (1_200, 40), (2_500, 200), (6_000, 15)))


BASE = TrafficGenerator(
    seed=3,
    base_rps=10.0,
    daily_amplitude=0.0,
    weekly_amplitude=0.0,
    burstiness_cv=1.0,
    token_mix=MIX,
    prefix_reuse=0.3,
)


def _generator(**overrides: Any) -> TrafficGenerator:
    return dataclasses.replace(BASE, **overrides)


def _take(generator: TrafficGenerator, start_s: float, duration_s: float) -> list[Request]:
    return list(generator.requests(start_s, duration_s))


@pytest.fixture(scope="module")
def calibrated(
    servegen_windows: list[RateWindow], azure_requests: list[Request], mooncake_requests: list[Request]
) -> TrafficGenerator:
    return calibrate_from(servegen_windows, azure_requests, mooncake_requests)


def test_the_same_seed_gives_the_same_traffic() -> None:
    generator = _generator(burstiness_cv=3.0)
    first = _take(generator, 1_000, 600)
    assert first == _take(generator, 1_000, 600)
    assert first != _take(_generator(seed=4, burstiness_cv=3.0), 1_000, 600)
    assert all(1_000 <= request.arrival_s < 1_600 for request in first)
    assert [r.arrival_s for r in first] == sorted(r.arrival_s for r in first)


def test_window_rates_are_exact_means_of_the_rate() -> None:
    generator = _generator(daily_amplitude=0.4, weekly_amplitude=0.3, daily_peak_s=50_000, weekly_peak_s=9e4)
    window = generator.rate_windows(start_s=40_000, duration_s=3_600, window_s=3_600)[0]
    steps = 3_600
    midpoint_sum = sum(generator.rate_at(40_000 + index + 0.5) for index in range(steps))
    assert window.expected_requests == pytest.approx(midpoint_sum, rel=1e-9)


def test_rate_windows_show_the_asked_daily_and_weekly_swing() -> None:
    generator = _generator(daily_amplitude=0.3, weekly_amplitude=0.2, daily_peak_s=18.5 * 3_600)
    windows = generator.rate_windows(start_s=0, duration_s=14 * DAY_S, window_s=600)
    assert len(windows) == 14 * 144
    profile = TrafficProfile.from_windows(windows)
    assert profile.mean_rate_rps == pytest.approx(10.0, rel=1e-9)
    assert profile.daily_peak_to_trough == pytest.approx(generator.daily_peak_to_trough, rel=0.01)
    assert profile.weekly_peak_to_trough == pytest.approx(1.2 / 0.8, rel=0.05)
    peak_window = max(windows, key=lambda window: window.rate_rps)
    assert peak_window.start_s % DAY_S == pytest.approx(18.5 * 3_600, abs=3_600)


def test_generated_arrivals_follow_the_daily_cycle() -> None:
    generator = _generator(base_rps=1.0, daily_amplitude=0.5, burstiness_cv=1.5)
    requests = _take(generator, 0, DAY_S)
    assert len(requests) == pytest.approx(DAY_S, rel=0.03)
    profile = TrafficProfile.from_requests(requests, window_s=600)
    assert profile.daily_peak_to_trough == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0, 4.0])
def test_inter_arrival_cv_is_as_asked(cv: float) -> None:
    requests = _take(_generator(base_rps=20.0, burstiness_cv=cv), 0, 1_000)
    measured = interarrival_cv([request.arrival_s for request in requests])
    assert len(requests) == pytest.approx(20_000, rel=0.1)
    assert measured == pytest.approx(cv, rel=0.08)


def test_zero_cv_spaces_arrivals_evenly() -> None:
    arrivals = [request.arrival_s for request in _take(_generator(burstiness_cv=0.0), 0, 10.05)]
    assert len(arrivals) == 100
    assert statistics.pstdev(b - a for a, b in itertools.pairwise(arrivals)) < 1e-9


@pytest.mark.parametrize("reuse", [0.0, 0.3, 0.6])
def test_block_hashes_cover_the_prompt_and_repeat_the_asked_share(reuse: float) -> None:
    requests = _take(_generator(prefix_reuse=reuse), 0, 2_000)
    assert all(len(r.block_hashes) == math.ceil(r.prompt_tokens / 512) for r in requests)
    assert replay_prefix_hits(requests).hit_rate == pytest.approx(reuse, abs=0.005)
    assert {(r.prompt_tokens, r.output_tokens) for r in requests} == set(MIX.pairs)


def test_prefix_reuse_reaches_back_so_a_bounded_cache_loses_some() -> None:
    requests = _take(_generator(base_rps=50.0, prefix_reuse=0.4, prefix_lookback_s=120.0), 0, 1_200)
    unlimited = replay_prefix_hits(requests).hit_rate
    rates = [replay_prefix_hits(requests, capacity_blocks=blocks).hit_rate for blocks in (500, 5_000, 50_000)]
    assert rates == sorted(rates)
    assert rates[0] < 0.8 * unlimited
    assert rates[-1] == pytest.approx(unlimited, abs=0.01)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="daily_amplitude"):
        _generator(daily_amplitude=1.5)
    with pytest.raises(ValueError, match="base rate"):
        _generator(base_rps=0.0)


def test_calibration_measures_the_real_traces(calibrated: TrafficGenerator) -> None:
    assert calibrated.base_rps == pytest.approx(195.84, abs=0.01)
    assert calibrated.burstiness_cv == pytest.approx(13.15, abs=0.01)
    assert calibrated.prefix_reuse == pytest.approx(0.366, abs=0.001)
    assert calibrated.prefix_lookback_s == pytest.approx(223.5, abs=0.1)
    assert calibrated.daily_peak_s / 3_600 == pytest.approx(19.0, abs=0.5)
    assert len(calibrated.token_mix.pairs) == 8_819


def test_calibrated_rates_look_like_servegen(
    calibrated: TrafficGenerator, servegen_windows: list[RateWindow]
) -> None:
    real = TrafficProfile.from_windows(servegen_windows)
    synthetic = TrafficProfile.from_windows(calibrated.rate_windows(0, 14 * DAY_S, 600))
    assert synthetic.mean_rate_rps == pytest.approx(real.mean_rate_rps, rel=1e-6)
    assert synthetic.daily_peak_to_trough == pytest.approx(real.daily_peak_to_trough, rel=0.01)
    assert synthetic.weekly_peak_to_trough == pytest.approx(real.weekly_peak_to_trough, rel=0.02)


def test_calibrated_requests_look_like_azure_and_mooncake(
    calibrated: TrafficGenerator, azure_requests: list[Request]
) -> None:
    synthetic = TrafficProfile.from_requests(list(calibrated.requests(0, 300)))
    real = TrafficProfile.from_requests(azure_requests)
    assert synthetic.interarrival_cv == pytest.approx(13.15, rel=0.3)
    assert synthetic.prefix_reuse == pytest.approx(0.366, abs=0.01)
    assert synthetic.prompt_tokens is not None and real.prompt_tokens is not None
    assert synthetic.prompt_tokens.p50 == pytest.approx(real.prompt_tokens.p50, rel=0.1)
    assert synthetic.prompt_tokens.p90 == pytest.approx(real.prompt_tokens.p90, rel=0.1)


def test_default_generator_holds_the_calibration(calibrated: TrafficGenerator) -> None:
    default = default_generator()
    assert default.seed == 7
    for field in ("base_rps", "daily_amplitude", "weekly_amplitude", "burstiness_cv", "prefix_reuse"):
        assert getattr(default, field) == pytest.approx(getattr(calibrated, field), abs=0.005), field
    assert default.prefix_lookback_s == pytest.approx(calibrated.prefix_lookback_s, abs=0.05)
    assert default.daily_peak_s == pytest.approx(calibrated.daily_peak_s, abs=1)
    assert default.weekly_peak_s == pytest.approx(calibrated.weekly_peak_s, abs=1)
    assert default.token_mix == calibrated.token_mix.stratified(DEFAULT_MIX_POINTS)
