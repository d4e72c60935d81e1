"""Predictive, SLO-aware scaling of one workload's replicas: pure decisions, no I/O.

Replicas are sized for the rate predicted one provisioning delay ahead, so the capacity is ready before the
traffic arrives, and never below what the rate measured now needs (a reactive guard). The per-replica
capacity comes from the capacity model, corrected by how the replicas actually perform: their measured
latencies against the model's at the same load (the correction NVIDIA's Dynamo planner applies to its
profiled performance), read as a slowdown and turned into the capacity lost under the SLO.

`predictive_decision` is one decision from a forecast peak; `PredictiveScaler` is the stateful policy: it
refits the forecast on a schedule (the method chosen per workload by backtest), scores its predictions
against what was then measured and sizes its headroom on those errors for the SLO's share of windows, uses
the forecast only where it has proven sharper than persistence, learns the correction window by window,
scales up at once and down gradually. `ReplicaPool` carries out decisions drain-first: a replica marked for
removal takes no new requests and is released only once its in-flight requests have finished.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from agents.performance.forecast import (
    Forecast,
    ForecastChoice,
    ForecastMethod,
    ForecastSettings,
    RateHistory,
    choose_forecast,
)

DEFAULT_CORRECTION_BOUNDS = (0.5, 3.0)
"""A replica measured at half or three times the modelled latency points at a broken measurement or a
different deployment, not at a model to correct: the correction never leaves this range."""
DEFAULT_CORRECTION_SMOOTHING = 0.5
"""Weight of the newest measurement: a persistent deviation is learned within a few windows, while one noisy
window moves the correction only halfway."""
FORECAST_HEADROOM = 0.05
"""`predictive_decision`'s default spare capacity over the forecast peak, for a caller with no measured
errors to size it on: the arrivals of a minute scatter a few percent around the ten-minute rate a forecast
describes. `PredictiveScaler` calibrates its own."""
OBSERVED_HEADROOM = 0.08
"""`predictive_decision`'s default spare capacity over the rate measured now: the rise of the next minutes
and the scatter of a one-minute measurement."""
DRAIN_TIMEOUT_S = 120.0
"""Longest a draining replica is kept before it is released anyway (a saturated replica has no finite
drain time); about what a Kubernetes termination grace period is set to for LLM servers."""
BISECTION_STEPS = 40
ANCHOR_WINDOWS = 3
"""Measurement windows the forecast is anchored to: enough to steady one minute's scatter, recent enough to
follow a shift the forecast did not see coming."""


# --- latency correction -----------------------------------------------------------------------------------


def _ratio(observed: float | None, expected: float | None) -> float | None:
    """observed / expected, or None when either is missing, non-finite or not positive."""
    if observed is None or expected is None:
        return None
    if not (math.isfinite(observed) and math.isfinite(expected)) or observed <= 0 or expected <= 0:
        return None
    return observed / expected


def slowdown_factor(
    observed_s: float,
    per_replica_rps: float,
    expected_at: Callable[[float], float],
    bounds: tuple[float, float] = DEFAULT_CORRECTION_BOUNDS,
) -> float | None:
    """How much slower than modelled a replica runs, from one latency measured at `per_replica_rps`: the
    factor `a` (within `bounds`) for which a replica whose every step takes `a` times as long - so that it
    behaves like the model at `a` times the load, with every time stretched `a` times - shows the measured
    latency: a * expected_at(a * rate) = observed_s. `expected_at` is the model's latency as a function of
    the rate (non-decreasing, infinite when saturated). A saturated replica (infinite latency) gives the
    smallest slowdown that saturates it, a lower bound. None when the measurement is unusable."""
    if not (observed_s > 0 and per_replica_rps > 0) or math.isnan(observed_s):
        return None
    low, high = bounds

    def stretched(factor: float) -> float:
        return factor * expected_at(per_replica_rps * factor)

    if stretched(high) < observed_s:
        return high
    if stretched(low) >= observed_s:
        return low
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if stretched(middle) < observed_s:
            low = middle
        else:
            high = middle
    return high


def capacity_under_slowdown(
    slowdown: float,
    *,
    expected_latency: Callable[[float], tuple[float, float]],
    ttft_slo_s: float,
    itl_slo_s: float,
    upper_rps: float,
) -> float:
    """The highest per-replica rate (up to `upper_rps`) at which a replica `slowdown` times slower than
    modelled meets the p95 TTFT and ITL objectives, `expected_latency` being the model's (p95 TTFT, p95 ITL)
    at a rate. A replica that misses them even idle carries 0."""

    def meets(rate: float) -> bool:
        ttft, itl = expected_latency(rate * slowdown)
        return slowdown * ttft <= ttft_slo_s and slowdown * itl <= itl_slo_s

    if not meets(0.0):
        return 0.0
    if meets(upper_rps):
        return upper_rps
    low, high = 0.0, upper_rps
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if meets(middle):
            low = middle
        else:
            high = middle
    return low


def latency_correction(
    *,
    observed_ttft_s: float | None,
    expected_ttft_s: float | None,
    observed_itl_s: float | None,
    expected_itl_s: float | None,
    previous: float = 1.0,
    smoothing: float = DEFAULT_CORRECTION_SMOOTHING,
    bounds: tuple[float, float] = DEFAULT_CORRECTION_BOUNDS,
    per_replica_rps: float | None = None,
    expected_ttft_at: Callable[[float], float] | None = None,
    expected_itl_at: Callable[[float], float] | None = None,
) -> float:
    """The factor to divide the model's per-replica capacity by (> 1: replicas are slower than modelled),
    from latencies measured against the model's expectation at the same per-replica load. Each latency is
    one statistic, the same on both sides: means where the replicas report them (exact, from each
    histogram's sum and count, where a p95 read off histogram buckets is only interpolated), p95s otherwise.

    Each latency gives a factor, observed over expected; the larger binds, since either a slower prefill
    (TTFT) or a slower decode (ITL) leaves a replica fewer requests per second. The result is smoothed
    exponentially with `previous` and clipped to `bounds`; with nothing measurable it is `previous`.

    Near saturation queueing grows much faster than the load, so a plain ratio overstates how much slower
    the replica is (TTFT 1.6x at 99% of its SLO capacity for a replica 11% slower; ITL too, once the batch
    swells close to saturation). Given the measured `per_replica_rps` and the model's latency as a function
    of the rate (`expected_ttft_at`, `expected_itl_at`), a factor is instead the fitted slowdown
    (`slowdown_factor`), which stays put across loads; a saturated replica (infinite latency) then raises
    the factor to the least slowdown that saturates it, where that is more than `previous`."""
    low, high = bounds
    if not 0 < low <= 1 <= high:
        raise ValueError(f"correction bounds must satisfy 0 < low <= 1 <= high, got {bounds}")
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must lie in (0, 1], got {smoothing}")
    factors: list[float] = []
    for observed, expected, expected_at in (
        (observed_ttft_s, expected_ttft_s, expected_ttft_at),
        (observed_itl_s, expected_itl_s, expected_itl_at),
    ):
        factor = _ratio(observed, expected)
        if observed is not None and per_replica_rps and expected_at is not None:
            factor = slowdown_factor(observed, per_replica_rps, expected_at, bounds)
            if factor is not None and math.isinf(observed) and factor <= previous:
                factor = None  # saturated: only a lower bound, and no news
        if factor is not None:
            factors.append(factor)
    if not factors:
        return min(max(previous, low), high)
    raw = min(max(max(factors), low), high)
    return min(max(previous + smoothing * (raw - previous), low), high)


# --- sizing -------------------------------------------------------------------------------------------------


def replicas_for_rate(
    rate_rps: float,
    capacity_rps_per_replica: float,
    *,
    correction: float = 1.0,
    headroom: float = 0.0,
    floor: int = 1,
    ceiling: int | None = None,
) -> int:
    """Replicas that carry `rate_rps` with `headroom` spare, each carrying the model's capacity divided by
    `correction`; never below `floor` nor above `ceiling`."""
    if not (math.isfinite(rate_rps) and rate_rps >= 0):
        raise ValueError(f"rate must be a non-negative number, got {rate_rps}")
    if not capacity_rps_per_replica > 0 or not correction > 0 or headroom < 0:
        raise ValueError("capacity and correction must be positive and headroom non-negative")
    if floor < 0 or (ceiling is not None and ceiling < floor):
        raise ValueError(f"need 0 <= floor <= ceiling, got {floor}, {ceiling}")
    needed = math.ceil(rate_rps * (1.0 + headroom) * correction / capacity_rps_per_replica - 1e-9)
    needed = max(needed, floor)
    return min(needed, ceiling) if ceiling is not None else needed


@dataclass(frozen=True)
class ScalingDecision:
    """Replicas to run, and what they were sized for. `capacity_rps` is per replica, corrected."""

    replicas: int
    forecast_peak_rps: float
    observed_rps: float
    capacity_rps: float
    reason: str


def predictive_decision(
    forecast: Forecast | None,
    *,
    now_s: float,
    lead_s: float,
    interval_s: float,
    observed_rps: float | None,
    capacity_rps_per_replica: float,
    correction: float,
    floor: int,
    ceiling: int | None,
    current_replicas: int,
    headroom: float = FORECAST_HEADROOM,
    observed_headroom: float = OBSERVED_HEADROOM,
    level: float = 1.0,
    use_upper: bool = False,
) -> ScalingDecision:
    """Replicas for the forecast peak over [now + lead, now + lead + interval) - `lead_s` being the time a
    new replica takes to serve, so it is ready before that traffic - times `level` (the recent ratio of
    measured to forecast rates), with `headroom`; never below what `observed_rps` needs now with
    `observed_headroom` (the reactive guard), never below `floor`, never above `ceiling`. A forecast that
    does not reach the interval leaves the reactive guard alone."""
    capacity = capacity_rps_per_replica / correction
    peak = 0.0
    if forecast is not None:
        start = now_s + lead_s
        end = start + interval_s
        if start < forecast.end_s and end > forecast.start_s:
            peak = forecast.peak(start, end, use_upper=use_upper) * level
    observed = observed_rps if observed_rps is not None and math.isfinite(observed_rps) else 0.0
    by_forecast = replicas_for_rate(peak, capacity, headroom=headroom, floor=floor)
    by_observed = replicas_for_rate(max(observed, 0.0), capacity, headroom=observed_headroom, floor=floor)
    replicas = max(by_forecast, by_observed)
    if ceiling is not None:
        replicas = min(replicas, ceiling)
    if forecast is None or peak <= 0:
        why = f"no forecast for the next interval: {by_observed} for the measured {observed:.2f} req/s"
    elif by_forecast >= by_observed:
        span = f"{lead_s:.0f}-{lead_s + interval_s:.0f} s"
        why = f"forecast peak {peak:.2f} req/s in {span} needs {by_forecast}"
    else:
        why = f"measured {observed:.2f} req/s needs {by_observed}, more than the forecast's {by_forecast}"
    if ceiling is not None and replicas == ceiling < max(by_forecast, by_observed):
        why += f", capped at {ceiling}"
    change = "hold" if replicas == current_replicas else f"{current_replicas} -> {replicas}"
    return ScalingDecision(
        replicas=replicas,
        forecast_peak_rps=peak,
        observed_rps=observed,
        capacity_rps=capacity,
        reason=f"{change}: {why} at {capacity:.2f} req/s per replica (correction {correction:.3f})",
    )


# --- draining -----------------------------------------------------------------------------------------------


def drain_seconds(
    *, ttft_p95_s: float, itl_s: float, max_output_tokens: float, timeout_s: float = DRAIN_TIMEOUT_S
) -> float:
    """How long a replica takes to finish the requests it holds once it takes no new ones: the longest is a
    request that has just arrived and generates `max_output_tokens` (e.g. the mix's p99); never above
    `timeout_s`, which is also the answer for a saturated replica (infinite latencies)."""
    seconds = ttft_p95_s + max_output_tokens * itl_s
    return min(seconds, timeout_s) if math.isfinite(seconds) and seconds >= 0 else timeout_s


@dataclass
class _Replica:
    launched_s: float
    ready_s: float
    release_s: float | None = None
    draining: bool = False


class ReplicaPool:
    """The replicas scaling decisions act on. A launched replica serves `provisioning_s` later and is billed
    from launch; scaling down first cancels replicas still provisioning (newest first), then marks serving
    ones as draining: they take no new requests and are released `drain_s` later, billed until then."""

    def __init__(self, *, provisioning_s: float, initial_replicas: int, start_s: float = 0.0) -> None:
        if provisioning_s < 0 or initial_replicas < 0:
            raise ValueError("provisioning time and initial replicas must be non-negative")
        self.provisioning_s = provisioning_s
        self._live: list[_Replica] = [_Replica(start_s, start_s) for _ in range(initial_replicas)]
        self._draining: list[_Replica] = []
        self._billed_s = 0.0
        self.launches = 0

    @property
    def scale(self) -> int:
        """Replicas serving or provisioning (not draining): what the last decision asked for."""
        return len(self._live)

    def serving(self, t_s: float) -> int:
        """Replicas taking requests at `t_s`: ready and not draining."""
        return sum(1 for replica in self._live if replica.ready_s <= t_s)

    def draining(self, t_s: float) -> int:
        """Replicas finishing their requests at `t_s`, not yet released."""
        return sum(1 for replica in self._draining if replica.release_s is None or replica.release_s > t_s)

    def scale_to(self, t_s: float, replicas: int, *, drain_s: float) -> None:
        """Launch or remove replicas so that `replicas` are serving or provisioning from `t_s`."""
        if replicas < 0:
            raise ValueError(f"cannot scale to {replicas} replicas")
        self._release_due(t_s)
        while len(self._live) < replicas:
            self._live.append(_Replica(t_s, t_s + self.provisioning_s))
            self.launches += 1
        if len(self._live) <= replicas:
            return
        # Remove what costs least to lose: replicas not serving yet (newest first), then serving ones.
        self._live.sort(key=lambda replica: replica.ready_s)
        while len(self._live) > replicas:
            replica = self._live.pop()
            if replica.ready_s > t_s:
                self._billed_s += t_s - replica.launched_s
            else:
                replica.draining = True
                replica.release_s = t_s + max(drain_s, 0.0)
                self._draining.append(replica)

    def _release_due(self, t_s: float) -> None:
        kept: list[_Replica] = []
        for replica in self._draining:
            assert replica.release_s is not None
            if replica.release_s <= t_s:
                self._billed_s += replica.release_s - replica.launched_s
            else:
                kept.append(replica)
        self._draining = kept

    def replica_seconds(self, until_s: float) -> float:
        """Replica-seconds billed from each launch to its release, or to `until_s` for those still held."""
        self._release_due(until_s)
        held = sum(until_s - replica.launched_s for replica in self._live)
        held += sum(until_s - replica.launched_s for replica in self._draining)
        return self._billed_s + held


# --- the policy ---------------------------------------------------------------------------------------------


LAST = "last"
TREND = "trend"
FORECAST = "forecast"
PREDICTORS = (LAST, TREND, FORECAST)
"""What the scaler can size for: the last measured rate (persistence); the measured rate's level with its
rising trend extrapolated over the lead; or the forecast anchored to the measured rate (its predicted change
from now applied to what is measured now)."""


@dataclass(frozen=True)
class PredictiveSettings:
    """Knobs of `PredictiveScaler`; the defaults are what the scaling bench measures."""

    lead_s: float = 180.0
    """Time from launching a replica to its serving: node, image pull and weights."""
    window_s: float = 60.0
    """Length of one measurement window (rate and latencies), and of the window a prediction is for."""
    interval_s: float = 600.0
    """Forecast resolution (history and forecast intervals)."""
    refit_s: float = 6 * 3600.0
    """How often the forecast is refitted and its method chosen again: four times a day follows a change of
    regime within hours while keeping Prophet's fits (about a second each) cheap."""
    methods: tuple[ForecastMethod, ...] = tuple(ForecastMethod)
    backtest_s: float = 86_400.0
    """Held-out tail the forecast methods are scored on when choosing: a whole daily cycle."""
    trend_window_s: float = 300.0
    """Measured rates this far back give the level and trend the short-term prediction extrapolates."""
    coverage: float = 0.98
    """Share of windows the predicted rate plus headroom should cover: the headroom is this quantile of the
    measured over predicted rate of past windows, as large as this workload's own noise and the predictor's
    own misses make it. Whole replicas and the scale-down hold add coverage on top, so 98% per prediction
    keeps about 99% of windows within the SLO (tuned on the first ten days of the scaling bench's trace)."""
    calibration_s: float = 86_400.0
    """Past predictions the headroom is calibrated on: a whole day, so every hour's noise counts."""
    min_calibration_windows: int = 60
    """Below this many scored predictions (an hour of windows) the headroom is `cold_headroom`."""
    cold_headroom: float = 0.15
    """Headroom before the calibration has an hour of evidence: about three times the minute-scale spread
    of a busy LLM service's rate, so the first hour is not where the SLO is lost."""
    recalibrate_s: float = 600.0
    """How often the headroom and the predictor are re-derived from the scored predictions."""
    scale_down_delay_s: float = 180.0
    """The scale goes down only to the largest target of this long. Equal to the lead: keeping an idle
    replica that long costs what relaunching it would (the ski-rental break-even), and it is not missing
    for the three minutes a relaunch takes if the rate comes back."""
    scale_down_step: float = 0.1
    """At most this share of the replicas (and at least one) is removed per decision."""
    floor: int = 2
    """Never fewer replicas: one replica is a single point of failure."""
    ceiling: int | None = None
    correction_smoothing: float = DEFAULT_CORRECTION_SMOOTHING
    correction_bounds: tuple[float, float] = DEFAULT_CORRECTION_BOUNDS

    def __post_init__(self) -> None:
        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1), got {self.coverage}")
        if self.lead_s < 0 or not (self.window_s > 0 and self.interval_s >= self.window_s):
            raise ValueError("need lead >= 0 and 0 < window <= interval")
        if self.floor < 0 or (self.ceiling is not None and self.ceiling < self.floor):
            raise ValueError(f"need 0 <= floor <= ceiling, got {self.floor}, {self.ceiling}")

    def forecast_settings(self) -> ForecastSettings:
        """The forecast reaches from one refit past the next one's lead and interval."""
        return ForecastSettings(
            horizon_s=self.refit_s + self.lead_s + 2 * self.interval_s,
            interval_s=self.interval_s,
            methods=self.methods,
            backtest_s=self.backtest_s,
        )


ExpectedLatency = Callable[[float], tuple[float, float]]
"""The capacity model's (p95 TTFT, p95 ITL) in seconds at a per-replica rate; infinite when saturated."""
Forecaster = Callable[[RateHistory, ForecastSettings], ForecastChoice]


@dataclass
class _Bin:
    start_s: float
    requests: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Scored:
    """One past window: what each predictor said of it and the rate measured."""

    end_s: float
    predicted: dict[str, float]
    measured_rps: float


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


class PredictiveScaler:
    """The predictive policy, fed measurement windows and asked for a scale.

    After each measurement window it predicts the rate of the window one lead ahead - the first one a
    replica launched now would serve - three ways: persistence (the rate just measured); the measured rate's
    level with its rising trend extrapolated; and the forecast (refitted every `refit_s` by
    `choose_forecast`, the method chosen per workload by backtest) anchored to the measured rate, i.e. its
    predicted change applied to what is measured now. Once that window is measured, each prediction is
    scored. A predictor's headroom is the `coverage` quantile of its measured over predicted rates over the
    last `calibration_s`, and the scaler sizes for the predictor whose calibrated capacity was the smallest
    on average: the forecast or the trend is used only where it has proven sharper, on this workload.

    With the SLO given, the correction is the capacity a replica loses under it at the measured slowdown
    (`capacity_under_slowdown`); without, the slowdown itself divides the capacity.

    `decide(now_s)` returns the scale: up at once, down gradually (see `PredictiveSettings`)."""

    def __init__(
        self,
        settings: PredictiveSettings,
        *,
        capacity_rps_per_replica: float,
        expected_latency: ExpectedLatency,
        initial_replicas: int,
        slo_ttft_p95_s: float | None = None,
        slo_itl_p95_s: float | None = None,
        forecaster: Forecaster = choose_forecast,
    ) -> None:
        if not capacity_rps_per_replica > 0:
            raise ValueError(f"capacity must be positive, got {capacity_rps_per_replica}")
        self.settings = settings
        self.capacity_rps_per_replica = capacity_rps_per_replica
        self.slowdown = 1.0
        self.correction = 1.0
        self._slo = (slo_ttft_p95_s, slo_itl_p95_s)
        self.level = 1.0
        self.choice: ForecastChoice | None = None
        self.last_decision: ScalingDecision | None = None
        self.refits = 0
        self.predictor = LAST
        self.headroom = settings.cold_headroom
        self._expected = expected_latency
        self._forecaster = forecaster
        self._forecast_settings = settings.forecast_settings()
        self._windows: deque[tuple[float, float]] = deque()
        self._bins: list[_Bin] = []
        self._pending: deque[tuple[float, dict[str, float]]] = deque()
        self._scored: deque[_Scored] = deque()
        self._predicted: dict[str, float] = {}
        self._next_refit_s: float | None = None
        self._next_calibration_s = -math.inf
        self._current = max(initial_replicas, settings.floor)
        self._targets: deque[tuple[float, int]] = deque()

    @property
    def forecast(self) -> Forecast | None:
        return self.choice.forecast if self.choice is not None else None

    @property
    def corrected_capacity_rps(self) -> float:
        return self.capacity_rps_per_replica / self.correction

    @property
    def predicted_rps(self) -> float | None:
        """The rate the scaler sizes for now, headroom included."""
        predicted = self._predicted.get(self.predictor, self._predicted.get(LAST))
        return None if predicted is None else predicted * (1.0 + self.headroom)

    # --- measurements ---------------------------------------------------------------------------------------

    def observe_window(
        self,
        *,
        end_s: float,
        duration_s: float,
        requests: float,
        replica_seconds: float,
        ttft_p95_s: float | None,
        itl_p95_s: float | None,
    ) -> None:
        """One measurement window ending at `end_s`: `requests` arrived over `duration_s`, served over
        `replica_seconds` of serving replicas, with these measured p95 latencies (None: not measured)."""
        if not duration_s > 0 or requests < 0 or replica_seconds < 0:
            raise ValueError("a window needs a positive duration and non-negative counts")
        s = self.settings
        rate = requests / duration_s
        self._windows.append((end_s - duration_s / 2, rate))
        while self._windows and self._windows[0][0] <= end_s - s.trend_window_s:
            self._windows.popleft()
        self._add_to_bins(end_s - duration_s, duration_s, requests)
        if replica_seconds > 0 and requests > 0:
            self._learn_correction(requests / replica_seconds, ttft_p95_s, itl_p95_s)
        self._score(end_s, rate)
        self._predict(end_s)
        if end_s >= self._next_calibration_s:
            self._calibrate()
            self._next_calibration_s = end_s + s.recalibrate_s

    def _learn_correction(
        self, per_replica: float, ttft_p95_s: float | None, itl_p95_s: float | None
    ) -> None:
        """Update the slowdown from the window's latencies and, knowing the SLO, turn it into the capacity
        correction: a replica `a` times slower loses more than `a` of its capacity under a latency bound,
        because its queues also grow faster with the load."""
        s = self.settings
        expected_ttft, expected_itl = self._expected(per_replica)
        previous = self.slowdown
        self.slowdown = latency_correction(
            observed_ttft_s=ttft_p95_s,
            expected_ttft_s=expected_ttft,
            observed_itl_s=itl_p95_s,
            expected_itl_s=expected_itl,
            previous=previous,
            smoothing=s.correction_smoothing,
            bounds=s.correction_bounds,
            per_replica_rps=per_replica,
            expected_ttft_at=lambda rate_rps: self._expected(rate_rps)[0],
            expected_itl_at=lambda rate_rps: self._expected(rate_rps)[1],
        )
        ttft_slo, itl_slo = self._slo
        if ttft_slo is None or itl_slo is None:
            self.correction = self.slowdown
        elif self.slowdown != previous:
            corrected = capacity_under_slowdown(
                self.slowdown,
                expected_latency=self._expected,
                ttft_slo_s=ttft_slo,
                itl_slo_s=itl_slo,
                upper_rps=2 * self.capacity_rps_per_replica,
            )
            low, high = s.correction_bounds
            factor = self.capacity_rps_per_replica / corrected if corrected > 0 else high
            self.correction = min(max(factor, low), high)

    def _add_to_bins(self, start_s: float, duration_s: float, requests: float) -> None:
        interval = self.settings.interval_s
        bins = self._bins
        bin_start = math.floor(start_s / interval + 1e-9) * interval
        if bins and bin_start < bins[-1].start_s:
            raise ValueError("measurement windows must come in time order")
        if not bins or bin_start > bins[-1].start_s:
            while bins and bins[-1].start_s + interval < bin_start - 1e-9:
                bins.append(_Bin(bins[-1].start_s + interval))  # a gap: nothing measured
            bins.append(_Bin(bin_start))
        bins[-1].requests += requests
        bins[-1].seconds += duration_s

    # --- prediction and calibration -------------------------------------------------------------------------

    def _trend(self, at_s: float) -> float | None:
        """The measured rate's least-squares line over the trend window at its last window, extrapolated to
        `at_s` only when rising: a falling rate is left to the gradual scale-down."""
        if not self._windows:
            return None
        times = [t for t, _ in self._windows]
        rates = [rate for _, rate in self._windows]
        mean_t = sum(times) / len(times)
        mean_rate = sum(rates) / len(rates)
        spread = sum((t - mean_t) ** 2 for t in times)
        if len(times) < 3 or spread <= 0:
            return mean_rate
        slope = sum((t - mean_t) * (r - mean_rate) for t, r in zip(times, rates, strict=True)) / spread
        now = mean_rate + slope * (times[-1] - mean_t)
        return max(now + max(slope, 0.0) * (at_s - times[-1]), 0.0)

    def _anchored_forecast(self, at_s: float) -> float | None:
        """The forecast at `at_s`, times the measured over forecast rate of the last `ANCHOR_WINDOWS`."""
        forecast = self.forecast
        if forecast is None or not forecast.start_s <= at_s < forecast.end_s:
            return None
        measured = predicted = 0.0
        for t, rate in list(self._windows)[-ANCHOR_WINDOWS:]:
            if forecast.start_s <= t < forecast.end_s:
                measured += rate
                predicted += forecast.at(t)[0]
        if predicted <= 0:
            return None
        self.level = measured / predicted
        return forecast.at(at_s)[0] * self.level

    def _predict(self, end_s: float) -> None:
        """Predictions for the window a replica launched now serves first."""
        s = self.settings
        middle = end_s + s.lead_s + s.window_s / 2
        predicted: dict[str, float] = {}
        if self._windows:
            predicted[LAST] = self._windows[-1][1]
        trend = self._trend(middle)
        if trend is not None:
            predicted[TREND] = trend
        anchored = self._anchored_forecast(middle)
        if anchored is not None:
            predicted[FORECAST] = anchored
        self._predicted = predicted
        self._pending.append((end_s + s.lead_s + s.window_s, predicted))

    def _score(self, end_s: float, rate: float) -> None:
        """Score the predictions made for the window that just ended."""
        tolerance = 1e-6 * self.settings.window_s
        while self._pending and self._pending[0][0] < end_s - tolerance:
            self._pending.popleft()  # a window that was never measured
        if self._pending and abs(self._pending[0][0] - end_s) <= tolerance:
            _, predicted = self._pending.popleft()
            if predicted:
                self._scored.append(_Scored(end_s, predicted, rate))
        while self._scored and self._scored[0].end_s <= end_s - self.settings.calibration_s:
            self._scored.popleft()

    def _calibrate(self) -> None:
        """Headroom of each predictor from its scored windows; size for the one that needed the least
        capacity on average at the required coverage, among those scored on every recent window."""
        s = self.settings
        scored = [entry for entry in self._scored if entry.predicted.get(LAST, 0.0) > 0]
        if len(scored) < s.min_calibration_windows:
            self.predictor, self.headroom = LAST, s.cold_headroom
            return
        best: tuple[float, str, float] | None = None
        for name in PREDICTORS:
            usable = [entry for entry in scored if entry.predicted.get(name, 0.0) > 0]
            if len(usable) < len(scored):
                continue  # not scored on every window: not comparable with persistence
            factor = _quantile([e.measured_rps / e.predicted[name] for e in usable], s.coverage)
            mean_capacity = factor * sum(e.predicted[name] for e in usable) / len(usable)
            if best is None or mean_capacity < best[0]:
                best = (mean_capacity, name, factor)
        assert best is not None  # persistence is always usable
        _, self.predictor, factor = best
        self.headroom = max(factor - 1.0, 0.0)

    # --- forecast -------------------------------------------------------------------------------------------

    def _history(self) -> RateHistory | None:
        """The finished intervals' measured rates (NaN where nothing was measured)."""
        finished = self._bins[:-1]
        if not finished:
            return None
        values = tuple(b.requests / b.seconds if b.seconds > 0 else math.nan for b in finished)
        return RateHistory(start_s=finished[0].start_s, interval_s=self.settings.interval_s, values=values)

    def _refit(self, now_s: float) -> None:
        if self._next_refit_s is not None and now_s < self._next_refit_s:
            return
        history = self._history()
        if history is None or history.finite_count < 2:
            return
        self.choice = self._forecaster(history, self._forecast_settings)
        self.refits += 1
        self._next_refit_s = now_s + self.settings.refit_s

    # --- decision -------------------------------------------------------------------------------------------

    def decide(self, now_s: float) -> ScalingDecision:
        """The scale from `now_s`: up at once to the target, down gradually to the largest target of the
        last `scale_down_delay_s`, by at most `scale_down_step` of the replicas at a time."""
        s = self.settings
        self._refit(now_s)
        uses_forecast = self.predictor == FORECAST and self.forecast is not None
        latest = self._windows[-1][1] if self._windows else None
        decision = predictive_decision(
            self.forecast if uses_forecast else None,
            now_s=now_s,
            lead_s=s.lead_s,
            interval_s=s.window_s,
            observed_rps=latest if uses_forecast else self._predicted.get(self.predictor, latest),
            capacity_rps_per_replica=self.capacity_rps_per_replica,
            correction=self.correction,
            floor=s.floor,
            ceiling=s.ceiling,
            current_replicas=self._current,
            headroom=self.headroom,
            observed_headroom=0.0 if uses_forecast else self.headroom,
            level=self.level,
        )
        self._targets.append((now_s, decision.replicas))
        while self._targets and self._targets[0][0] < now_s - s.scale_down_delay_s:
            self._targets.popleft()
        target = decision.replicas
        if target < self._current:
            recent = max(count for _, count in self._targets)
            step = max(1, math.ceil(self._current * s.scale_down_step))
            target = min(self._current, max(recent, self._current - step))
        if target != decision.replicas:
            decision = ScalingDecision(
                replicas=target,
                forecast_peak_rps=decision.forecast_peak_rps,
                observed_rps=decision.observed_rps,
                capacity_rps=decision.capacity_rps,
                reason=f"{decision.reason}; scaling down gradually to {target}",
            )
        self._current = target
        self.last_decision = decision
        return decision
