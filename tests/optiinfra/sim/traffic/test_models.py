"""Records refuse impossible values, token mixes keep real pairs, and a profile measures what it claims."""

import random

import pytest

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic import Request, TokenLengthMix, TokenPercentiles, TrafficProfile
from optiinfra.sim.traffic.models import cyclic_peak_to_trough, windows_from_requests


def test_records_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="duration"):
        RateWindow(start_s=0, duration_s=0, rate_rps=1)
    with pytest.raises(ValueError, match="rate"):
        RateWindow(start_s=0, duration_s=60, rate_rps=-1)
    with pytest.raises(ValueError, match="prompt"):
        Request(arrival_s=0, prompt_tokens=-1, output_tokens=1)
    with pytest.raises(ValueError, match="at least one"):
        TokenLengthMix(())


def test_a_mix_samples_whole_real_pairs() -> None:
    mix = TokenLengthMix(((100, 1), (200, 2), (300, 3)))
    rng = random.Random(1)
    assert {mix.sample(rng) for _ in range(100)} == set(mix.pairs)


def test_a_stratified_mix_keeps_one_real_pair_per_prompt_stratum() -> None:
    mix = TokenLengthMix(tuple((prompt, prompt % 7) for prompt in range(1, 1001)))
    compact = mix.stratified(10)
    assert len(compact.pairs) == 10
    assert set(compact.pairs) <= set(mix.pairs)
    assert [prompt for prompt, _ in compact.pairs] == [51 + 100 * index for index in range(10)]
    assert compact.mean_prompt_tokens == pytest.approx(mix.mean_prompt_tokens, rel=0.01)


def test_percentiles_are_nearest_rank() -> None:
    assert TokenPercentiles.of(list(range(1, 101))) == TokenPercentiles(p50=50, p90=90, p99=99)
    assert TokenPercentiles.of([7]) == TokenPercentiles(p50=7, p90=7, p99=7)


def test_daily_peak_to_trough_averages_each_hour_over_all_days() -> None:
    hourly = [
        RateWindow(start_s=3_600.0 * hour, duration_s=3_600, rate_rps=2.0 if hour % 24 == 18 else 1.0)
        for hour in range(48)
    ]
    assert cyclic_peak_to_trough(hourly, period_s=86_400, bin_s=3_600) == 2.0
    assert cyclic_peak_to_trough(hourly[:20], period_s=86_400, bin_s=3_600) is None
    profile = TrafficProfile.from_windows(hourly)
    assert (profile.daily_peak_to_trough, profile.weekly_peak_to_trough) == (2.0, None)
    assert profile.mean_rate_rps == pytest.approx(25 / 24)
    assert profile.peak_rate_rps == 2.0


def test_arrivals_bin_into_aligned_windows_with_empty_ones_kept() -> None:
    requests = [Request(arrival_s=t, prompt_tokens=1, output_tokens=1) for t in (5.0, 6.0, 125.0)]
    windows = windows_from_requests(requests, window_s=60)
    assert [(w.start_s, w.rate_rps) for w in windows] == [(0, 2 / 60), (60, 0), (120, 1 / 60)]


def test_request_profile_of_the_azure_trace(azure_requests: list[Request]) -> None:
    profile = TrafficProfile.from_requests(azure_requests)
    assert profile.request_count == 8_819
    assert profile.mean_rate_rps == pytest.approx(2.567, abs=0.001)
    assert profile.interarrival_cv == pytest.approx(13.15, abs=0.01)
    assert profile.prompt_tokens == TokenPercentiles(p50=1_469, p90=5_194, p99=7_436)
    assert profile.output_tokens == TokenPercentiles(p50=13, p90=55, p99=252)
    assert (profile.daily_peak_to_trough, profile.prefix_reuse) == (None, None)


def test_window_profile_of_servegen(servegen_windows: list[RateWindow]) -> None:
    profile = TrafficProfile.from_windows(servegen_windows)
    assert profile.mean_rate_rps == pytest.approx(195.84, abs=0.01)
    assert profile.daily_peak_to_trough == pytest.approx(1.4504, abs=1e-4)
    assert profile.weekly_peak_to_trough == pytest.approx(1.8193, abs=1e-4)
