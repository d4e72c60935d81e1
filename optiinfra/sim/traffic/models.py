"""The records traffic is made of (rate windows, requests, token-length mixes) and the summary that lets a
real trace and a synthetic one be compared figure by figure."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.prefix_cache import mean_reuse_gap_s, replay_prefix_hits

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
HOUR_S = 3_600.0
BLOCK_TOKENS = 512
"""Tokens per prefix block in the Mooncake trace's hash_ids; the synthetic generator uses the same size so
its hit rates compare with the trace's."""


class TraceFormatError(ValueError):
    """A trace file row that cannot be trusted: loaders stop on it instead of silently dropping traffic."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")


def parse_float(text: str, path: Path, line: int, field: str) -> float:
    """A finite float from a trace field, or a TraceFormatError naming the field."""
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(path, line, f"{field} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise TraceFormatError(path, line, f"{field} is not finite: {text!r}")
    return value


def parse_int(text: str, path: Path, line: int, field: str) -> int:
    """A non-negative integer from a trace field, or a TraceFormatError naming the field."""
    try:
        value = int(text)
    except ValueError:
        raise TraceFormatError(path, line, f"{field} is not an integer: {text!r}") from None
    if value < 0:
        raise TraceFormatError(path, line, f"{field} is negative: {value}")
    return value


@dataclass(frozen=True, slots=True)
class Request:
    """One inference request; `block_hashes` are its prompt's prefix blocks (equal ids = reusable KV)."""

    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    block_hashes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.arrival_s):
            raise ValueError(f"arrival must be finite, got {self.arrival_s}")
        if self.prompt_tokens < 0:
            raise ValueError(f"prompt tokens must be non-negative, got {self.prompt_tokens}")
        if self.output_tokens < 0:
            raise ValueError(f"output tokens must be non-negative, got {self.output_tokens}")


@dataclass(frozen=True)
class TokenLengthMix:
    """An empirical joint distribution of (prompt, output) token lengths; sampling whole pairs keeps the
    correlation between them that independent marginals would lose."""

    pairs: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError("a token-length mix needs at least one (prompt, output) pair")
        if any(prompt < 0 or output < 0 for prompt, output in self.pairs):
            raise ValueError("token lengths must be non-negative")

    @classmethod
    def from_requests(cls, requests: Iterable[Request]) -> TokenLengthMix:
        return cls(tuple((request.prompt_tokens, request.output_tokens) for request in requests))

    def sample(self, rng: random.Random) -> tuple[int, int]:
        return rng.choice(self.pairs)

    def stratified(self, points: int) -> TokenLengthMix:
        """A compact mix of `points` real pairs, one from the middle of each equal-count stratum by prompt
        length, so a mix small enough to write as constants keeps the prompt-length quantiles."""
        if points <= 0:
            raise ValueError(f"points must be positive, got {points}")
        ordered = sorted(self.pairs)
        if points >= len(ordered):
            return TokenLengthMix(tuple(ordered))
        stratum = len(ordered) / points
        return TokenLengthMix(tuple(ordered[int((index + 0.5) * stratum)] for index in range(points)))

    @property
    def mean_prompt_tokens(self) -> float:
        return statistics.fmean(prompt for prompt, _ in self.pairs)

    @property
    def mean_output_tokens(self) -> float:
        return statistics.fmean(output for _, output in self.pairs)


class TokenPercentiles(BaseModel):
    """Nearest-rank percentiles of a token length."""

    model_config = ConfigDict(frozen=True)

    p50: int
    p90: int
    p99: int

    @classmethod
    def of(cls, values: Sequence[int]) -> TokenPercentiles:
        ordered = sorted(values)
        return cls(
            p50=nearest_rank(ordered, 0.50), p90=nearest_rank(ordered, 0.90), p99=nearest_rank(ordered, 0.99)
        )


class TrafficProfile(BaseModel):
    """The figures that decide fleet cost: how much traffic, how it swings over a day and a week, how bursty
    it is, how long its requests are and how much prompt prefix it shares. None means the trace is too short
    or lacks the field to say."""

    model_config = ConfigDict(frozen=True)

    duration_s: float = Field(ge=0)
    request_count: int | None = Field(default=None, ge=0)
    mean_rate_rps: float = Field(ge=0)
    peak_rate_rps: float = Field(ge=0)
    daily_peak_to_trough: float | None = Field(
        default=None, ge=1, description="Max over min of the mean rate by hour of day"
    )
    weekly_peak_to_trough: float | None = Field(
        default=None, ge=1, description="Max over min of the mean rate by day of week"
    )
    interarrival_cv: float | None = Field(default=None, ge=0, description="Burstiness; 1 for Poisson")
    prompt_tokens: TokenPercentiles | None = None
    output_tokens: TokenPercentiles | None = None
    prefix_reuse: float | None = Field(default=None, ge=0, le=1, description="Unlimited-cache block hit rate")
    prefix_reuse_gap_s: float | None = Field(
        default=None, ge=0, description="Block-weighted mean time since a hit prefix was last used"
    )

    @classmethod
    def from_windows(cls, windows: Sequence[RateWindow]) -> TrafficProfile:
        """Profile of a rate series whose times count from midnight of day 0 (ServeGen's convention)."""
        if not windows:
            raise ValueError("cannot profile an empty rate series")
        duration = sum(window.duration_s for window in windows)
        return cls(
            duration_s=windows[-1].end_s - windows[0].start_s,
            mean_rate_rps=sum(window.expected_requests for window in windows) / duration,
            peak_rate_rps=max(window.rate_rps for window in windows),
            daily_peak_to_trough=cyclic_peak_to_trough(windows, period_s=DAY_S, bin_s=HOUR_S),
            weekly_peak_to_trough=cyclic_peak_to_trough(windows, period_s=WEEK_S, bin_s=DAY_S),
        )

    @classmethod
    def from_requests(cls, requests: Sequence[Request], window_s: float = 60.0) -> TrafficProfile:
        """Profile of a request trace; the peak rate is the busiest `window_s` window."""
        if not requests:
            raise ValueError("cannot profile an empty trace")
        windows = windows_from_requests(requests, window_s)
        arrivals = sorted(request.arrival_s for request in requests)
        span = arrivals[-1] - arrivals[0]
        has_blocks = any(request.block_hashes for request in requests)
        return cls(
            duration_s=span,
            request_count=len(requests),
            mean_rate_rps=len(requests) / span if span > 0 else 0.0,
            peak_rate_rps=max(window.rate_rps for window in windows),
            daily_peak_to_trough=cyclic_peak_to_trough(windows, period_s=DAY_S, bin_s=HOUR_S),
            weekly_peak_to_trough=cyclic_peak_to_trough(windows, period_s=WEEK_S, bin_s=DAY_S),
            interarrival_cv=interarrival_cv(arrivals),
            prompt_tokens=TokenPercentiles.of([request.prompt_tokens for request in requests]),
            output_tokens=TokenPercentiles.of([request.output_tokens for request in requests]),
            prefix_reuse=replay_prefix_hits(requests, capacity_blocks=None).hit_rate if has_blocks else None,
            prefix_reuse_gap_s=mean_reuse_gap_s(requests) if has_blocks else None,
        )


def interarrival_cv(sorted_arrivals: Sequence[float]) -> float | None:
    """Coefficient of variation of the gaps between arrivals: 1 for Poisson, above 1 for bursty traffic."""
    gaps = [later - earlier for earlier, later in pairwise(sorted_arrivals)]
    if len(gaps) < 2:
        return None
    mean_gap = statistics.fmean(gaps)
    return statistics.pstdev(gaps) / mean_gap if mean_gap > 0 else None


def windows_from_requests(requests: Iterable[Request], window_s: float) -> list[RateWindow]:
    """Bin arrivals into back-to-back windows aligned to multiples of `window_s`, empty windows included."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s}")
    counts: dict[int, int] = {}
    for request in requests:
        index = math.floor(request.arrival_s / window_s)
        counts[index] = counts.get(index, 0) + 1
    if not counts:
        return []
    return [
        RateWindow(start_s=index * window_s, duration_s=window_s, rate_rps=counts.get(index, 0) / window_s)
        for index in range(min(counts), max(counts) + 1)
    ]


def cyclic_peak_to_trough(windows: Iterable[RateWindow], period_s: float, bin_s: float) -> float | None:
    """Max over min of the duration-weighted mean rate per phase bin of a cycle (hour of day, day of week).

    Averaging the same phase over every cycle in the series keeps the cycle and damps one-off noise. None
    when some bin has no data (the series is shorter than the cycle) or the trough is empty."""
    bin_count = round(period_s / bin_s)
    requests_per_bin = [0.0] * bin_count
    seconds_per_bin = [0.0] * bin_count
    for window in windows:
        phase_bin = int((window.start_s % period_s) // bin_s) % bin_count
        requests_per_bin[phase_bin] += window.expected_requests
        seconds_per_bin[phase_bin] += window.duration_s
    if min(seconds_per_bin) == 0:
        return None
    mean_rates = [count / seconds for count, seconds in zip(requests_per_bin, seconds_per_bin, strict=True)]
    trough = min(mean_rates)
    return max(mean_rates) / trough if trough > 0 else None
