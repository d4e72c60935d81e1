"""A replica under Poisson arrivals as the measured reference says it behaves, for the twin and the
benchmarks to replay traffic against.

The roofline's queueing model gives the whole picture at an arrival rate (queueing, the chunked-prefill
mixture, KV use, preemptions). Where NVIDIA's silicon reference covers the deployment, the levels come
from it instead: the rate is mapped to the concurrency at which the reference serves it, and the roofline's
picture at that same concurrency is rescaled to the reference's TTFT and TPOT there. Its capacity is the
reference's highest throughput. Elsewhere the roofline answers alone (`TruthSource.ROOFLINE` forces it).
"""

from __future__ import annotations

import math
from dataclasses import replace
from enum import StrEnum
from functools import lru_cache

from optiinfra.capacity.estimate import on_grid, roofline_at_concurrency, silicon_key
from optiinfra.capacity.roofline import (
    ItlDistribution,
    ReplicaLoad,
    ReplicaPerformance,
    ServingConfig,
    max_throughput_rps,
    replica_performance,
)
from optiinfra.capacity.shape import TokenShape
from optiinfra.capacity.silicon import SiliconTable, default_silicon_reference


class TruthSource(StrEnum):
    SILICON = "silicon"
    ROOFLINE = "roofline"


def _table(config: ServingConfig, load: ReplicaLoad) -> SiliconTable | None:
    table = default_silicon_reference().table(silicon_key(config))
    if table is None or not table.covers(load.mean_prompt_tokens, load.mean_output_tokens, 1):
        return None
    return table


def _levels(config: ServingConfig) -> list[float]:
    """Concurrencies the reference is read at: 1 to max_num_seqs (or the table's top) in 5% steps."""
    top = min(float(config.max_num_seqs), 256.0)
    count = max(1, math.ceil(math.log(top) / math.log(1.05)))
    return [min(top, 1.05**i) for i in range(count + 1)]


@lru_cache(maxsize=4096)
def truth_max_throughput_rps(
    config: ServingConfig,
    prompt_tokens: float,
    output_tokens: float,
    source: TruthSource = TruthSource.SILICON,
) -> float:
    """The largest arrival rate one replica sustains, by the reference where it covers the deployment."""
    load = ReplicaLoad(0.0, prompt_tokens, output_tokens)
    table = _table(config, load) if source is TruthSource.SILICON else None
    if table is None:
        return max_throughput_rps(config, prompt_tokens, output_tokens)
    best = 0.0
    for level in _levels(config):
        point = table.at(prompt_tokens, output_tokens, level)
        if point is None or not point.fits:
            break
        best = max(best, point.requests_per_s)
    return best


@lru_cache(maxsize=16384)
def truth_performance(
    config: ServingConfig, load: ReplicaLoad, source: TruthSource = TruthSource.SILICON
) -> ReplicaPerformance:
    """The replica at `load`, from the silicon reference where it covers the deployment."""
    table = _table(config, load) if source is TruthSource.SILICON else None
    prior = replica_performance(config, load)
    if table is None or prior.oom:
        return prior
    top = truth_max_throughput_rps(config, load.mean_prompt_tokens, load.mean_output_tokens)
    if load.arrival_rps >= top:
        return replace(prior, saturated=True, utilization=math.inf, reason="beyond the measured capacity")
    concurrency = on_grid(_concurrency_for(table, config, load))
    point = table.at(load.mean_prompt_tokens, load.mean_output_tokens, concurrency)
    if point is None or not point.fits:
        return prior
    reference = roofline_at_concurrency(config, TokenShape.of_load(load), concurrency)
    if reference.saturated or reference.ttft_mean_s <= 0 or reference.itl_s <= 0:
        return prior
    k_ttft = point.ttft_ms / 1000 / reference.ttft_mean_s
    k_itl = point.tpot_ms / 1000 / reference.itl_s
    # Below one request in flight the reference has no row: the roofline's own picture at the rate (an
    # idle replica runs nothing), at the levels the reference gives one request alone.
    light = load.arrival_rps < _rate_at(table, load, 1.0)
    at_same = prior if light else reference
    itl = at_same.itl
    ttft_mean = at_same.ttft_mean_s * k_ttft
    e2e = ttft_mean + (load.mean_output_tokens - 1) * at_same.itl_s * k_itl
    # What is in flight follows the rescaled times (Little's law), and the KV cache with it.
    running = load.arrival_rps * e2e
    held = running / at_same.running if at_same.running > 0 else 1.0
    return replace(
        at_same,
        running=running,
        waiting=load.arrival_rps * at_same.queue_s * k_ttft,
        kv_usage=min(1.0, at_same.kv_usage * held),
        ttft_mean_s=ttft_mean,
        ttft_p50_s=at_same.ttft_p50_s * k_ttft,
        ttft_p95_s=at_same.ttft_p95_s * k_ttft,
        ttft_p99_s=at_same.ttft_p99_s * k_ttft,
        queue_s=at_same.queue_s * k_ttft,
        itl_s=at_same.itl_s * k_itl,
        itl=ItlDistribution(itl.decode_step_s * k_itl, itl.mixed_step_s * k_itl, itl.mixed_share)
        if itl is not None
        else None,
        e2e_s=e2e,
        utilization=load.arrival_rps / top,
    )


def _rate_at(table: SiliconTable, load: ReplicaLoad, concurrency: float) -> float:
    point = table.at(load.mean_prompt_tokens, load.mean_output_tokens, concurrency)
    return point.requests_per_s if point is not None else 0.0


def _concurrency_for(table: SiliconTable, config: ServingConfig, load: ReplicaLoad) -> float:
    """The concurrency at which the reference serves the arrival rate (its throughput rises with it); at
    least one request in flight."""
    low, high = 1.0, float(min(config.max_num_seqs, 256))
    if _rate_at(table, load, low) >= load.arrival_rps:
        return low
    for _ in range(40):
        middle = math.sqrt(low * high)
        if _rate_at(table, load, middle) < load.arrival_rps:
            low = middle
        else:
            high = middle
    return high
