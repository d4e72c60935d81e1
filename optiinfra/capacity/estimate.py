"""How much one replica serves, from the best source there is: the deployment's own measured profile,
then NVIDIA's silicon-measured reference, then the roofline prior. Every answer names its source.

The answers are operating points: with `concurrency` requests in flight on average, what TTFT and TPOT
(mean, p95, p99) and requests/s the replica shows. The roofline gives the whole distribution (queueing,
chunked-prefill steps, the prompt-length tail); the silicon reference and a profile give levels measured
on real GPUs. Where a measured source has only means, its percentiles keep the roofline's shape: p95 =
measured mean x (roofline p95 / roofline mean) at the same operating point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from optiinfra.capacity.closed_loop import closed_loop_point
from optiinfra.capacity.roofline import (
    ReplicaPerformance,
    ServingConfig,
    largest_feasible_rate,
    max_rps_under_slo,
    max_throughput_rps,
    memory_budget,
    replica_performance,
)
from optiinfra.capacity.shape import TokenShape
from optiinfra.capacity.silicon import SiliconKey, SiliconReference, default_silicon_reference
from optiinfra.domain.capacity_profiles import CapacityProfile, find_profile


class CapacitySource(StrEnum):
    PROFILE = "profile"
    SILICON = "silicon"
    ROOFLINE = "roofline"


@dataclass(frozen=True)
class OperatingPoint:
    """One replica at one load. Latencies in seconds; all infinite when the replica cannot serve it."""

    concurrency: float
    requests_per_s: float
    ttft_mean_s: float
    ttft_p95_s: float
    ttft_p99_s: float
    tpot_mean_s: float
    tpot_p95_s: float
    tpot_p99_s: float
    source: CapacitySource
    detail: str

    @property
    def served(self) -> bool:
        return math.isfinite(self.ttft_mean_s) and self.requests_per_s > 0

    def meets(self, ttft_p95_s: float, itl_p95_s: float) -> bool:
        return self.served and self.ttft_p95_s <= ttft_p95_s and self.tpot_p95_s <= itl_p95_s


@dataclass(frozen=True)
class SloCapacity:
    """The most requests/s one replica serves within a p95 TTFT and p95 ITL objective, and who says so."""

    requests_per_s: float
    source: CapacitySource
    detail: str


def _unserved(concurrency: float, source: CapacitySource, detail: str) -> OperatingPoint:
    inf = math.inf
    return OperatingPoint(concurrency, 0.0, inf, inf, inf, inf, inf, inf, source, detail)


@lru_cache(maxsize=8192)
def roofline_at_concurrency(
    config: ServingConfig, shape: TokenShape, concurrency: float
) -> ReplicaPerformance:
    """The roofline under Poisson arrivals at the rate that keeps `concurrency` requests in flight on
    average (Little's law: rate x mean end-to-end time = concurrency), found by bisection."""
    top = max_throughput_rps(config, shape.mean_prompt_tokens, shape.mean_output_tokens)

    def below(rate: float) -> bool:
        found = replica_performance(config, shape.at_rate(rate))
        return not found.saturated and rate * found.e2e_s < concurrency

    return replica_performance(config, shape.at_rate(largest_feasible_rate(top, below, iterations=32)))


class CapacityEstimator:
    """The capacity layer's one entry point for decisions: profiles first, then silicon, then roofline."""

    def __init__(
        self,
        *,
        silicon: SiliconReference | None = None,
        profiles: Sequence[CapacityProfile] = (),
        workload_id: str | None = None,
    ) -> None:
        self._silicon = silicon if silicon is not None else default_silicon_reference()
        self._profiles = tuple(profiles)
        self._workload_id = workload_id

    def source_for(self, config: ServingConfig, shape: TokenShape) -> CapacitySource:
        """The best source that covers this deployment and shape."""
        if self._profile(config, shape) is not None:
            return CapacitySource.PROFILE
        table = self._silicon.table(silicon_key(config))
        if table is not None and table.covers(shape.mean_prompt_tokens, shape.mean_output_tokens, 1):
            return CapacitySource.SILICON
        return CapacitySource.ROOFLINE

    def operating_point(
        self,
        config: ServingConfig,
        shape: TokenShape,
        concurrency: float,
        source: CapacitySource | None = None,
    ) -> OperatingPoint:
        """The replica with `concurrency` requests in flight, from `source` or the best one that covers
        it; a source asked for by name that does not cover it falls back and the answer says so."""
        chosen = source or self.source_for(config, shape)
        if chosen is CapacitySource.PROFILE:
            found = self._from_profile(config, shape, concurrency)
            if found is not None:
                return found
            chosen = CapacitySource.SILICON
        if chosen is CapacitySource.SILICON:
            found = self._from_silicon(config, shape, concurrency)
            if found is not None:
                return found
        return self._from_roofline(config, shape, concurrency)

    def operating_point_at_rate(
        self, config: ServingConfig, shape: TokenShape, requests_per_s: float
    ) -> OperatingPoint | None:
        """The replica offered `requests_per_s`, from the same source its capacity comes from: the
        concurrency that rate settles at (on the grid), or one request in flight below that; None when the
        replica cannot serve the rate at any concurrency it allows."""
        if requests_per_s < 0:
            raise ValueError(f"a rate cannot be negative, got {requests_per_s}")
        source = self.source_for(config, shape)
        first = self.operating_point(config, shape, 1.0, source)
        if not first.served:
            return None
        if first.requests_per_s >= requests_per_s:
            return first
        top = _grid_top(config)
        low, high = 0, top + 1
        while high - low > 1:
            middle = (low + high) // 2
            point = self.operating_point(config, shape, CONCURRENCY_GRID**middle, source)
            if point.served and point.requests_per_s < requests_per_s:
                low = middle
            else:
                high = middle
        if high > top:
            return None
        found = self.operating_point(config, shape, CONCURRENCY_GRID**high, source)
        return found if found.served else None

    def max_rps_under_slo(
        self,
        config: ServingConfig,
        shape: TokenShape,
        ttft_p95_slo_s: float,
        itl_p95_slo_s: float,
        source: CapacitySource | None = None,
    ) -> SloCapacity:
        """The highest request rate one replica carries with p95 TTFT and p95 ITL within the objective (0
        when even one request alone misses it): the largest concurrency that meets it, by bisection."""
        chosen = source or self.source_for(config, shape)
        if chosen is CapacitySource.ROOFLINE or not memory_budget(config).fits:
            rate = max_rps_under_slo(
                config,
                shape.mean_prompt_tokens,
                shape.mean_output_tokens,
                ttft_p95_slo_s,
                itl_p95_slo_s,
                shape.p95_prompt_tokens,
            )
            return SloCapacity(rate, CapacitySource.ROOFLINE, _roofline_detail(config))
        first = self.operating_point(config, shape, 1.0, chosen)
        if not first.meets(ttft_p95_slo_s, itl_p95_slo_s):
            return SloCapacity(0.0, first.source, first.detail)
        # A replica carries every rate up to its capacity, each at the concurrency that rate settles at,
        # so the objective must hold at all concurrencies up to c*. It need not hold beyond the first miss:
        # past the chunked-prefill tail, when every step carries prompt tokens, gaps are uniformly long
        # and a p95 objective can be met again at a rate the replica only reaches by passing the miss.
        # Walk up in 10% steps to the first miss, then bisect on the grid below it.
        top = _grid_top(config)
        stride = round(math.log(COARSE_STEP) / math.log(CONCURRENCY_GRID))
        low, high = 0, top + 1
        for index in range(stride, top + 1, stride):
            if not self.operating_point(config, shape, CONCURRENCY_GRID**index, chosen).meets(
                ttft_p95_slo_s, itl_p95_slo_s
            ):
                high = index
                break
            low = index
        while high - low > 1:
            middle = (low + high) // 2
            if self.operating_point(config, shape, CONCURRENCY_GRID**middle, chosen).meets(
                ttft_p95_slo_s, itl_p95_slo_s
            ):
                low = middle
            else:
                high = middle
        # Every grid concurrency up to c* meets the objective (the first is concurrency 1); their
        # throughputs need no spread.
        best = max(self._throughput(config, shape, CONCURRENCY_GRID**k, chosen) for k in range(low + 1))
        return SloCapacity(best, first.source, first.detail)

    def _throughput(
        self, config: ServingConfig, shape: TokenShape, concurrency: float, source: CapacitySource
    ) -> float:
        """Requests/s at `concurrency` from a measured source, without the spread a full answer carries."""
        if source is CapacitySource.PROFILE:
            profile = self._profile(config, shape)
            point = profile.at(concurrency) if profile is not None else None
            if point is not None:
                return point.requests_per_s
        table = self._silicon.table(silicon_key(config))
        found = table.at(shape.mean_prompt_tokens, shape.mean_output_tokens, concurrency) if table else None
        if found is not None and found.fits:
            return found.requests_per_s
        return self.operating_point(config, shape, concurrency, source).requests_per_s

    # --- sources ----------------------------------------------------------------------------------------

    def _profile(self, config: ServingConfig, shape: TokenShape) -> CapacityProfile | None:
        return find_profile(
            self._profiles,
            gpu=config.gpu.name,
            model=config.model.name,
            tp=config.tensor_parallel,
            mean_prompt_tokens=shape.mean_prompt_tokens,
            mean_output_tokens=shape.mean_output_tokens,
            workload_id=self._workload_id,
        )

    def _from_roofline(self, config: ServingConfig, shape: TokenShape, concurrency: float) -> OperatingPoint:
        """The closed loop's means (what a concurrency asks), with the tail the roofline's queueing
        model gives at the rate that keeps as many requests in flight."""
        detail = _roofline_detail(config)
        if not memory_budget(config).fits:
            return _unserved(concurrency, CapacitySource.ROOFLINE, detail)
        found = closed_loop_point(
            config, shape.mean_prompt_tokens, shape.mean_output_tokens, max(concurrency, 1.0)
        )
        if not found.served:
            return _unserved(concurrency, CapacitySource.ROOFLINE, found.reason or detail)
        return _scaled(
            _prior_spread(config, shape, concurrency),
            concurrency=concurrency,
            ttft_mean_s=found.ttft_mean_s,
            tpot_mean_s=found.itl_mean_s,
            requests_per_s=found.requests_per_s,
            source=CapacitySource.ROOFLINE,
            detail=detail,
        )

    def _from_silicon(
        self, config: ServingConfig, shape: TokenShape, concurrency: float
    ) -> OperatingPoint | None:
        table = self._silicon.table(silicon_key(config))
        if table is None:
            return None
        point = table.at(shape.mean_prompt_tokens, shape.mean_output_tokens, concurrency)
        if point is None or concurrency > config.max_num_seqs:
            return None
        detail = table.provenance.describe()
        if not point.fits:
            return _unserved(concurrency, CapacitySource.SILICON, f"{detail}: does not fit in GPU memory")
        prior = _prior_spread(config, shape, concurrency)
        return _scaled(
            prior,
            concurrency=concurrency,
            ttft_mean_s=point.ttft_ms / 1000,
            tpot_mean_s=point.tpot_ms / 1000,
            requests_per_s=point.requests_per_s,
            source=CapacitySource.SILICON,
            detail=detail,
        )

    def _from_profile(
        self, config: ServingConfig, shape: TokenShape, concurrency: float
    ) -> OperatingPoint | None:
        profile = self._profile(config, shape)
        point = profile.at(concurrency) if profile is not None else None
        if profile is None or point is None:
            return None
        detail = f"{profile.tool} profile {profile.source_file}".strip()
        prior = _prior_spread(config, shape, concurrency)
        scaled = _scaled(
            prior,
            concurrency=concurrency,
            ttft_mean_s=point.ttft_mean_ms / 1000,
            tpot_mean_s=point.tpot_mean_ms / 1000,
            requests_per_s=point.requests_per_s,
            source=CapacitySource.PROFILE,
            detail=detail,
        )
        tpot_p95 = point.itl_p95_ms or point.tpot_p95_ms
        return OperatingPoint(
            concurrency=concurrency,
            requests_per_s=point.requests_per_s,
            ttft_mean_s=scaled.ttft_mean_s,
            ttft_p95_s=point.ttft_p95_ms / 1000 if point.ttft_p95_ms else scaled.ttft_p95_s,
            ttft_p99_s=point.ttft_p99_ms / 1000 if point.ttft_p99_ms else scaled.ttft_p99_s,
            tpot_mean_s=scaled.tpot_mean_s,
            tpot_p95_s=tpot_p95 / 1000 if tpot_p95 else scaled.tpot_p95_s,
            tpot_p99_s=scaled.tpot_p99_s,
            source=CapacitySource.PROFILE,
            detail=detail,
        )


@dataclass(frozen=True)
class _Spread:
    """Tail over mean of TTFT and TPOT (p95, p99) at one operating point of the roofline."""

    ttft_p95: float = 1.0
    ttft_p99: float = 1.0
    tpot_p95: float = 1.0
    tpot_p99: float = 1.0


COARSE_STEP = 1.1
"""Ratio between the concurrencies walked up to the first that misses an objective."""

CONCURRENCY_GRID = 1.02
"""Concurrencies are read on a 2% grid: the picture barely moves within a step, the same grid serves the
planner and the twin's truth (so both see the same spread), and repeated questions reuse the solves."""


def _grid_top(config: ServingConfig) -> int:
    """The grid index of the highest concurrency the replica allows (`max_num_seqs`)."""
    return int(math.log(max(float(config.max_num_seqs), 1.0)) / math.log(CONCURRENCY_GRID))


def on_grid(concurrency: float) -> float:
    return float(CONCURRENCY_GRID ** round(math.log(max(concurrency, 1.0)) / math.log(CONCURRENCY_GRID)))


@lru_cache(maxsize=8192)
def _spread_at(config: ServingConfig, shape: TokenShape, concurrency: float) -> _Spread | None:
    found = roofline_at_concurrency(config, shape, concurrency)
    if found.saturated or not (found.ttft_mean_s > 0 and found.itl_s > 0):
        return None
    return _Spread(
        found.ttft_p95_s / found.ttft_mean_s,
        found.ttft_p99_s / found.ttft_mean_s,
        found.itl_p95_s / found.itl_s,
        found.itl_p99_s / found.itl_s,
    )


def _prior_spread(config: ServingConfig, shape: TokenShape, concurrency: float) -> _Spread:
    """The roofline's spread at `concurrency` (on the grid); none where the roofline saturates."""
    return _spread_at(config, shape, on_grid(concurrency)) or _Spread()


def _scaled(
    spread: _Spread,
    *,
    concurrency: float,
    ttft_mean_s: float,
    tpot_mean_s: float,
    requests_per_s: float,
    source: CapacitySource,
    detail: str,
) -> OperatingPoint:
    """Measured means with the roofline's spread (its p95/mean and p99/mean) at the same concurrency."""
    return OperatingPoint(
        concurrency=concurrency,
        requests_per_s=requests_per_s,
        ttft_mean_s=ttft_mean_s,
        ttft_p95_s=ttft_mean_s * spread.ttft_p95,
        ttft_p99_s=ttft_mean_s * spread.ttft_p99,
        tpot_mean_s=tpot_mean_s,
        tpot_p95_s=tpot_mean_s * spread.tpot_p95,
        tpot_p99_s=tpot_mean_s * spread.tpot_p99,
        source=source,
        detail=detail,
    )


def silicon_key(config: ServingConfig) -> SiliconKey:
    """The deployment a silicon table would cover: GPU, model and tensor-parallel degree."""
    return SiliconKey(config.gpu.name, config.model.name, config.tensor_parallel)


def _roofline_detail(config: ServingConfig) -> str:
    return f"roofline prior for {config.gpu.name} x{config.gpu_count}"
