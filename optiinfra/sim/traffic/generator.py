"""Seeded synthetic traffic for when no trace is given, shaped like the real traces: a daily and a weekly
cycle (ServeGen), bursty arrivals (Azure), real token-length pairs (Azure) and shared prompt prefixes
(Mooncake). `calibrate_from` measures those figures from the traces; `default_generator` holds the result."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from optiinfra.capacity.shape import DEFAULT_TOKEN_PAIRS
from optiinfra.domain.rates import RateWindow
from optiinfra.settings import get_settings
from optiinfra.sim.traffic.azure import load_azure_trace
from optiinfra.sim.traffic.models import (
    BLOCK_TOKENS,
    DAY_S,
    HOUR_S,
    WEEK_S,
    Request,
    TokenLengthMix,
    TrafficProfile,
    interarrival_cv,
)
from optiinfra.sim.traffic.mooncake import load_mooncake_trace
from optiinfra.sim.traffic.prefix_cache import mean_reuse_gap_s, replay_prefix_hits
from optiinfra.sim.traffic.servegen import load_servegen_aggregate

SERVEGEN_AGGREGATE = Path("servegen/aggregate_rate_m-large.csv")
AZURE_CODE_TRACE = Path("azure_llm_2023/AzureLLMInferenceTrace_code.csv")
MOONCAKE_CONVERSATION_TRACE = Path("mooncake/conversation_trace.jsonl")
MAX_AMPLITUDE = 0.99
"""A cycle may nearly empty the trough but never drive the rate negative."""
LENDER_CANDIDATES = 4
"""Earlier prompts considered as the source of a borrowed prefix; 4 reaches the asked reuse within 0.002 on
Azure-like and Mooncake-like length mixes up to a reuse of about 0.6."""
HISTORY_LOOKBACKS = 5.0
"""Prompts further back than this many mean lookbacks are forgotten (under 1% of borrows reach that far)."""
MAX_HISTORY_BLOCKS = 1_000_000
"""Memory bound on the remembered prompts (tens of MB); at 200 req/s of Azure-like prompts it still spans
about 20 minutes."""
MAX_OWED_BLOCKS = 64.0
"""Reuse that could not be borrowed is carried over up to this many blocks, then forgiven, so an infeasible
share does not pile up into a run of fully reused prompts."""


@dataclass(frozen=True)
class TrafficGenerator:
    """Rate = base * (1 + daily * cos(day phase)) * (1 + weekly * cos(week phase)); arrivals follow that
    rate through a Gamma renewal process whose inter-arrival CV is `burstiness_cv` (1 = Poisson).

    Times are seconds from midnight at the start of day 0, as in ServeGen; `daily_peak_s` is the time of
    day of the daily peak and `weekly_peak_s` the offset of the weekly peak from the start of day 0.
    `prefix_reuse` is the share of prompt blocks an unlimited prefix cache would hit."""

    seed: int
    base_rps: float
    daily_amplitude: float
    weekly_amplitude: float
    burstiness_cv: float
    token_mix: TokenLengthMix
    prefix_reuse: float
    daily_peak_s: float = 19 * HOUR_S
    weekly_peak_s: float = 0.0
    step_s: float = 60.0
    """Arrivals follow the rate as a piecewise-constant series of this step, each step at its exact mean."""
    prefix_lookback_s: float = 200.0
    """Mean age of the earlier prompt a new prompt borrows its prefix from (conversation think time). It is
    counted in prompts at the base rate, so a burst does not pile every borrower onto its first prompt."""

    def __post_init__(self) -> None:
        if not self.base_rps > 0:
            raise ValueError(f"base rate must be positive, got {self.base_rps}")
        for name in ("daily_amplitude", "weekly_amplitude"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if not self.burstiness_cv >= 0:
            raise ValueError(f"burstiness CV must be non-negative, got {self.burstiness_cv}")
        if not 0 <= self.prefix_reuse < 1:
            raise ValueError(f"prefix reuse must be within [0, 1), got {self.prefix_reuse}")
        if not (self.step_s > 0 and self.prefix_lookback_s >= 0):
            raise ValueError("step must be positive and prefix lookback non-negative")

    @property
    def daily_peak_to_trough(self) -> float:
        """Of the continuous daily cycle; hourly means (as profiles measure it) show slightly less."""
        return _ratio_for_amplitude(self.daily_amplitude)

    def rate_at(self, time_s: float) -> float:
        daily = 1 + self.daily_amplitude * math.cos(_angle(time_s, DAY_S, self.daily_peak_s))
        weekly = 1 + self.weekly_amplitude * math.cos(_angle(time_s, WEEK_S, self.weekly_peak_s))
        return self.base_rps * daily * weekly

    def expected_requests(self, time_s: float) -> float:
        """Integral of the rate from 0 to `time_s` (closed form), so windows carry their exact mean rate."""
        daily_omega, weekly_omega = 2 * math.pi / DAY_S, 2 * math.pi / WEEK_S
        daily_angle = _angle(time_s, DAY_S, self.daily_peak_s)
        weekly_angle = _angle(time_s, WEEK_S, self.weekly_peak_s)
        both = self.daily_amplitude * self.weekly_amplitude / 2
        return self.base_rps * (
            time_s
            + self.daily_amplitude * math.sin(daily_angle) / daily_omega
            + self.weekly_amplitude * math.sin(weekly_angle) / weekly_omega
            + both * math.sin(daily_angle + weekly_angle) / (daily_omega + weekly_omega)
            + both * math.sin(daily_angle - weekly_angle) / (daily_omega - weekly_omega)
        )

    def rate_windows(self, start_s: float, duration_s: float, window_s: float) -> list[RateWindow]:
        """Back-to-back windows over [start, start + duration) at their mean rates; the last may be short."""
        if not (duration_s > 0 and window_s > 0):
            raise ValueError("duration and window must be positive")
        return [
            RateWindow(start_s=begin, duration_s=end - begin, rate_rps=self._mean_rate(begin, end))
            for begin, end in _spans(start_s, start_s + duration_s, window_s)
        ]

    def requests(self, start_s: float, duration_s: float) -> Iterator[Request]:
        """The requests arriving in [start, start + duration), in order; the same seed gives the same ones."""
        rng = random.Random(self.seed)
        prefixes = _PrefixSharer(
            rng, self.prefix_reuse, lookback_prompts=self.prefix_lookback_s * self.base_rps
        )
        for arrival_s in self._arrivals(rng, start_s, start_s + duration_s):
            prompt_tokens, output_tokens = self.token_mix.sample(rng)
            yield Request(arrival_s, prompt_tokens, output_tokens, prefixes.block_hashes(prompt_tokens))

    def _mean_rate(self, begin_s: float, end_s: float) -> float:
        return max(0.0, (self.expected_requests(end_s) - self.expected_requests(begin_s)) / (end_s - begin_s))

    def _arrivals(self, rng: random.Random, start_s: float, end_s: float) -> Iterator[float]:
        """Time rescaling: a unit-rate renewal process in 'expected requests' time, mapped back to seconds
        step by step, keeps its CV while following the cycles."""
        draw_gap = _unit_gap_sampler(rng, self.burstiness_cv)
        origin = self.expected_requests(start_s)
        next_arrival = draw_gap()
        for begin, end in _spans(start_s, end_s, self.step_s):
            at_begin, at_end = self.expected_requests(begin) - origin, self.expected_requests(end) - origin
            while next_arrival < at_end:
                yield begin + (next_arrival - at_begin) / (at_end - at_begin) * (end - begin)
                next_arrival += draw_gap()


class _PrefixSharer:
    """Gives each prompt its 512-token block hashes, borrowing a leading run of blocks from an earlier prompt
    (a later turn of a conversation, a shared system prompt) so that `share` of all blocks repeat.

    The borrowed length is paid from a running balance, so the trace-wide share comes out as asked. The
    lender is the longest of a few earlier prompts, each an exponential number of prompts back (mean
    `lookback_prompts`): a short one cannot lend a long prefix, and how far back reuse reaches decides what a
    bounded cache still holds."""

    def __init__(self, rng: random.Random, share: float, lookback_prompts: float) -> None:
        self._rng = rng
        self._share = share
        self._lookback_prompts = lookback_prompts
        self._history = _RecentPrompts(max_prompts=max(1, math.ceil(HISTORY_LOOKBACKS * lookback_prompts)))
        self._owed_blocks = 0.0
        self._next_hash = 0

    def block_hashes(self, prompt_tokens: int) -> tuple[int, ...]:
        block_count = math.ceil(prompt_tokens / BLOCK_TOKENS)
        self._owed_blocks += self._share * block_count
        wanted = min(int(self._owed_blocks + 0.5), block_count)
        lender = self._lender(wanted) if wanted else ()
        borrowed = min(wanted, len(lender))
        self._owed_blocks = min(self._owed_blocks - borrowed, MAX_OWED_BLOCKS)
        fresh = tuple(range(self._next_hash, self._next_hash + block_count - borrowed))
        self._next_hash += len(fresh)
        hashes = lender[:borrowed] + fresh
        self._history.add(hashes)
        return hashes

    def _lender(self, wanted_blocks: int) -> tuple[int, ...]:
        best: tuple[int, ...] = ()
        for _ in range(LENDER_CANDIDATES if self._history else 0):
            back = self._rng.expovariate(1 / self._lookback_prompts) if self._lookback_prompts > 0 else 0.0
            candidate = self._history.back(int(back))
            best = candidate if len(candidate) > len(best) else best
            if len(best) >= wanted_blocks:
                break
        return best


class _RecentPrompts:
    """Block chains of the latest prompts, oldest first, bounded by a prompt count and a total block count
    (memory at high rates)."""

    def __init__(self, max_prompts: int) -> None:
        self._max_prompts = max_prompts
        self._chains: list[tuple[int, ...]] = []
        self._blocks_through: list[int] = []
        """Blocks in all prompts added so far, up to and including this one."""
        self._first = 0

    def __bool__(self) -> bool:
        return self._first < len(self._chains)

    def add(self, chain: tuple[int, ...]) -> None:
        self._chains.append(chain)
        self._blocks_through.append((self._blocks_through[-1] if self._blocks_through else 0) + len(chain))
        self._forget_old()

    def back(self, prompts_ago: int) -> tuple[int, ...]:
        """The prompt that many before the latest; the oldest remembered one beyond that."""
        return self._chains[max(len(self._chains) - 1 - prompts_ago, self._first)]

    def _forget_old(self) -> None:
        excess_blocks = self._blocks_through[-1] - MAX_HISTORY_BLOCKS
        within_budget = (
            bisect.bisect_left(self._blocks_through, excess_blocks, lo=self._first) + 1
            if excess_blocks > 0
            else 0
        )
        self._first = max(self._first, within_budget, len(self._chains) - self._max_prompts)
        if self._first > len(self._chains) // 2:
            del self._chains[: self._first], self._blocks_through[: self._first]
            self._first = 0


def calibrate_from(
    servegen_windows: Sequence[RateWindow],
    azure_requests: Sequence[Request],
    mooncake_requests: Sequence[Request],
    seed: int = 7,
) -> TrafficGenerator:
    """A generator whose figures match the real data: level and cycles from ServeGen, burstiness and token
    lengths from Azure, prefix reuse from Mooncake (each trace is the one that has the figure)."""
    rates = TrafficProfile.from_windows(servegen_windows)
    daily_peak_s, weekly_peak_s = (
        cycle_peak_s(servegen_windows, DAY_S),
        cycle_peak_s(servegen_windows, WEEK_S),
    )
    return TrafficGenerator(
        seed=seed,
        base_rps=rates.mean_rate_rps,
        daily_amplitude=_amplitude_for_ratio(rates.daily_peak_to_trough, DAY_S, 24, daily_peak_s),
        weekly_amplitude=_amplitude_for_ratio(rates.weekly_peak_to_trough, WEEK_S, 7, weekly_peak_s),
        burstiness_cv=interarrival_cv(sorted(request.arrival_s for request in azure_requests)) or 1.0,
        token_mix=TokenLengthMix.from_requests(azure_requests),
        prefix_reuse=replay_prefix_hits(mooncake_requests, capacity_blocks=None).hit_rate,
        prefix_lookback_s=mean_reuse_gap_s(mooncake_requests) or DEFAULT_PREFIX_LOOKBACK_S,
        daily_peak_s=daily_peak_s,
        weekly_peak_s=weekly_peak_s,
    )


def calibrate_from_data_dir(data_dir: Path, seed: int = 7) -> TrafficGenerator:
    """`calibrate_from` on the shared data set's standard files."""
    return calibrate_from(
        load_servegen_aggregate(data_dir / SERVEGEN_AGGREGATE),
        load_azure_trace(data_dir / AZURE_CODE_TRACE),
        load_mooncake_trace(data_dir / MOONCAKE_CONVERSATION_TRACE),
        seed=seed,
    )


# Measured by `calibrate_from_data_dir` on the shared data set; reproduce with
#   .venv/bin/python -c "from optiinfra.sim.traffic.generator import main; main()"
# ServeGen m-large (14 days): mean 195.84 req/s; hour-of-day profile peak/trough 1.4504 -> daily amplitude
#   0.1858, peak at 68,478 s (19:01); day-of-week profile peak/trough 1.8193 -> weekly amplitude 0.3083,
#   peak 64,857 s (0.75 days) after the start of day 0. (The generator's own profile: 1.4504 and 1.8161;
#   its peak 10-minute rate is 304 req/s against the trace's noisy 583.)
# Azure code trace (8,819 requests, 57 min): inter-arrival CV 13.15 (very bursty; Poisson is 1).
# Mooncake conversation trace (12,031 requests): unlimited-cache block hit rate 0.3664; a hit prefix was last
#   used 223.5 s before (block-weighted mean), taken as the mean lookback of a borrowed prefix.
# Token mix: the Azure trace condensed to 64 real (prompt, output) pairs, one per prompt-length stratum
#   (mean prompt 2,048 vs 2,048 real; mean output 26.7 vs 27.9 real).
DEFAULT_BASE_RPS = 195.84
DEFAULT_DAILY_AMPLITUDE = 0.1858
DEFAULT_DAILY_PEAK_S = 68_478.0
DEFAULT_WEEKLY_AMPLITUDE = 0.3083
DEFAULT_WEEKLY_PEAK_S = 64_857.0
DEFAULT_BURSTINESS_CV = 13.15
DEFAULT_PREFIX_REUSE = 0.3664
DEFAULT_PREFIX_LOOKBACK_S = 223.5
DEFAULT_MIX_POINTS = 64


def default_generator(seed: int = 7) -> TrafficGenerator:
    """The calibrated generator without reading any data: constants above."""
    return TrafficGenerator(
        seed=seed,
        base_rps=DEFAULT_BASE_RPS,
        daily_amplitude=DEFAULT_DAILY_AMPLITUDE,
        weekly_amplitude=DEFAULT_WEEKLY_AMPLITUDE,
        burstiness_cv=DEFAULT_BURSTINESS_CV,
        token_mix=TokenLengthMix(DEFAULT_TOKEN_PAIRS),
        prefix_reuse=DEFAULT_PREFIX_REUSE,
        prefix_lookback_s=DEFAULT_PREFIX_LOOKBACK_S,
        daily_peak_s=DEFAULT_DAILY_PEAK_S,
        weekly_peak_s=DEFAULT_WEEKLY_PEAK_S,
    )


def cycle_peak_s(windows: Sequence[RateWindow], period_s: float) -> float:
    """Where in the cycle the rate peaks: the phase of the series' first Fourier harmonic at that period."""
    cosine = sine = 0.0
    for window in windows:
        angle = 2 * math.pi * (window.start_s + window.duration_s / 2) / period_s
        cosine += window.expected_requests * math.cos(angle)
        sine += window.expected_requests * math.sin(angle)
    return (math.atan2(sine, cosine) / (2 * math.pi) * period_s) % period_s


def _amplitude_for_ratio(
    peak_to_trough: float | None, period_s: float, bin_count: int, peak_s: float
) -> float:
    """The cosine amplitude whose per-bin means (as `cyclic_peak_to_trough` measures them) show this ratio.

    A bin's mean of a cosine is its centre's value shrunk by sinc(pi/bins), and the peak and trough rarely
    sit at bin centres, so the plain (R-1)/(R+1) would come out low."""
    if peak_to_trough is None:
        return 0.0
    shrink = math.sin(math.pi / bin_count) / (math.pi / bin_count)
    bin_s = period_s / bin_count
    centres = [math.cos(_angle((index + 0.5) * bin_s, period_s, peak_s)) for index in range(bin_count)]
    spread = shrink * (max(centres) - peak_to_trough * min(centres))
    return min(MAX_AMPLITUDE, (peak_to_trough - 1) / spread)


def _ratio_for_amplitude(amplitude: float) -> float:
    return math.inf if amplitude >= 1 else (1 + amplitude) / (1 - amplitude)


def _angle(time_s: float, period_s: float, peak_s: float) -> float:
    return 2 * math.pi * (time_s - peak_s) / period_s


def _spans(start_s: float, end_s: float, step_s: float) -> Iterator[tuple[float, float]]:
    """Back-to-back [begin, end) spans from start to end; computed from the index so no error accumulates."""
    index = 0
    while (begin := start_s + index * step_s) < end_s:
        index += 1
        yield begin, min(start_s + index * step_s, end_s)


def _unit_gap_sampler(rng: random.Random, cv: float) -> Callable[[], float]:
    """Mean-1 Gamma gaps with the given CV (shape 1/cv^2); CV 0 gives evenly spaced arrivals."""
    if cv == 0:
        return lambda: 1.0
    shape = 1 / cv**2
    return lambda: rng.gammavariate(shape, 1 / shape)


def main() -> None:
    """Print the calibration measured on the shared data set, in the form the constants above take."""
    generator = calibrate_from_data_dir(get_settings().data_dir)
    print(f"DEFAULT_BASE_RPS = {generator.base_rps:.2f}")
    print(f"DEFAULT_DAILY_AMPLITUDE = {generator.daily_amplitude:.4f}")
    print(f"DEFAULT_DAILY_PEAK_S = {generator.daily_peak_s:.0f}")
    print(f"DEFAULT_WEEKLY_AMPLITUDE = {generator.weekly_amplitude:.4f}")
    print(f"DEFAULT_WEEKLY_PEAK_S = {generator.weekly_peak_s:.0f}")
    print(f"DEFAULT_BURSTINESS_CV = {generator.burstiness_cv:.2f}")
    print(f"DEFAULT_PREFIX_REUSE = {generator.prefix_reuse:.4f}")
    print(f"DEFAULT_PREFIX_LOOKBACK_S = {generator.prefix_lookback_s:.1f}")
    print(f"DEFAULT_TOKEN_PAIRS = {generator.token_mix.stratified(DEFAULT_MIX_POINTS).pairs}")
