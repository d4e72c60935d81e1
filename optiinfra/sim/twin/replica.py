"""One vLLM replica of the fleet twin: the capacity model turned into what the replica would expose.

A window's offered load goes through the steady-state capacity model (`optiinfra.capacity`); the result
becomes the instance's utilization readings (GPU, GPU memory, CPU, host memory, as the CloudWatch agent
would report them) and, through `ReplicaMetricsState`, the replica's `/metrics` page, so the scraper and the
window statistics downstream run on exactly what they would read from vLLM.

Latencies of the observed requests are drawn, not replayed: TTFT is lognormal with the model's p50 as its
median and its p95 as its 95th percentile; each of a request's inter-token gaps is a pure decode step or
one carrying a prefill chunk (drawn independently, with the model's share of the latter), lasting a
lognormal draw around the model's duration for its kind with a small spread (`ITL_SIGMA`), and the ITL
histogram gets one observation per gap as vLLM's does; queue time is TTFT's modelled queue share; e2e is
TTFT plus the gaps at the model's mean. A saturated or out-of-memory replica has infinite latencies: its
requests are recorded at each histogram's largest bucket and count as SLO misses.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from optiinfra.capacity import (
    ModelSpec,
    ReplicaLoad,
    ReplicaPerformance,
    ServingConfig,
    config_for_instance,
    memory_budget,
)
from optiinfra.capacity.roofline import BYTES_PER_GIB
from optiinfra.capacity.truth import TruthSource, truth_max_throughput_rps, truth_performance
from optiinfra.domain.fleet import InstanceType
from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.store import UtilizationSample
from optiinfra.metrics.vllm_names import FinishReason
from optiinfra.sim.traffic import TokenLengthMix
from optiinfra.sim.vllm_emulator import ReplicaMetricsState

DEFAULT_REQUESTS_SAMPLE = 200
"""Requests observed into the histograms per replica per window; the counters still count every request."""

Z_95 = 1.6448536269514722
"""Standard normal 95th percentile: a lognormal's p95 is its median times exp(Z_95 * sigma)."""

ITL_SIGMA = 0.1
"""Spread of one step's duration around the capacity model's figure for its kind (a pure decode step or one
that carries a prefill chunk): kernel timing jitter. The chunked-prefill tail itself comes from drawing
the kind of step first, with the capacity model's share of prefill-carrying steps (`ItlDistribution`)."""

# Host CPU model (cores of one instance). vLLM's API server and engine-core loop idle at a fraction of a core;
# while the GPU works, each GPU's worker thread is busy launching kernels and preparing inputs; every request
# also costs HTTP handling, chat templating and streaming, and every token (de)tokenization (fast tokenizers
# run at roughly half a million tokens per second per core). Together: about 1-2 cores for one busy GPU.
SERVER_IDLE_CORES = 0.5
BUSY_CORES_PER_GPU = 1.0
CPU_SECONDS_PER_REQUEST = 0.002
CPU_SECONDS_PER_TOKEN = 2e-6

# Host memory model (GiB). Python, PyTorch and the CUDA runtime of the API server and engine core, one more
# runtime per tensor-parallel worker, and a share of the weights that stays resident on the host after
# loading (pinned staging buffers, the mmapped safetensors pages still mapped).
RUNTIME_GIB = 2.0
RUNTIME_GIB_PER_GPU = 1.0
RESIDENT_WEIGHT_SHARE = 0.25


@dataclass(frozen=True)
class HostUtilization:
    """One instance's readings over a window, with `UtilizationSample`'s field names; percentages 0-100.

    GPU memory used is weights plus the KV cache in use: what the model needs rather than the
    `gpu_memory_utilization` share vLLM preallocates, since that decides whether a smaller GPU fits."""

    gpu_utilization: float
    gpu_memory_used_gib: float
    gpu_memory_total_gib: float
    cpu_utilization: float
    memory_utilization: float

    def sample(self, customer_id: str, instance_id: str, at: datetime) -> UtilizationSample:
        return UtilizationSample(
            customer_id=customer_id,
            instance_id=instance_id,
            at=at,
            gpu_utilization=self.gpu_utilization,
            gpu_memory_used_gib=self.gpu_memory_used_gib,
            gpu_memory_total_gib=self.gpu_memory_total_gib,
            cpu_utilization=self.cpu_utilization,
            memory_utilization=self.memory_utilization,
        )


@dataclass(frozen=True)
class ReplicaWindow:
    """What one replica did over one window. A saturated replica serves at its capacity and the excess
    arrivals are `waiting` at the window's end; windows are independent steady states, so that backlog is
    not carried into the next one (its clients are taken to have given up)."""

    performance: ReplicaPerformance
    utilization: HostUtilization
    offered_rps: float
    served_rps: float
    running: float
    waiting: float

    @property
    def ttft_p95_s(self) -> float:
        return self.performance.ttft_p95_s

    @property
    def itl_p95_s(self) -> float:
        """The modelled p95 of the inter-token gaps, prefill-carrying steps included."""
        return self.performance.itl_p95_s

    def meets(self, ttft_p95_s: float, itl_p95_s: float) -> bool:
        """Whether the window met a p95 TTFT / p95 ITL objective; an idle window trivially does."""
        if self.offered_rps <= 0:
            return True
        if self.performance.saturated:
            return False
        return self.ttft_p95_s <= ttft_p95_s and self.itl_p95_s <= itl_p95_s


def _performance(
    config: ServingConfig, load: ReplicaLoad, truth: TruthSource = TruthSource.SILICON
) -> ReplicaPerformance:
    """The replica as the measured reference says it behaves where one covers it, else the roofline
    (cached: identical replicas of a workload see identical loads in a window)."""
    return truth_performance(config, load, truth)


@lru_cache(maxsize=256)
def _memory_figures(config: ServingConfig) -> tuple[float, float, float]:
    """(weights GiB, KV pool GiB, driver-visible GPU GiB) of the whole replica."""
    budget = memory_budget(config)
    gpus = config.gpu_count
    return (
        config.model.weight_bytes / BYTES_PER_GIB,
        budget.kv_cache_bytes * gpus / BYTES_PER_GIB if budget.fits else 0.0,
        config.gpu.driver_visible_gib * gpus,
    )


def model_window(
    config: ServingConfig,
    instance_type: InstanceType,
    load: ReplicaLoad,
    duration_s: float,
    truth: TruthSource = TruthSource.SILICON,
) -> ReplicaWindow:
    """The capacity model's view of one replica over one window, with no side effects (dry runs use it);
    `truth` picks what the replica's behaviour comes from (the measured reference, or the roofline)."""
    if not duration_s > 0:
        raise ValueError(f"window duration must be positive, got {duration_s}")
    performance = _performance(config, load, truth)
    offered = load.arrival_rps
    if performance.oom:
        served, running, waiting, busy, kv_usage = 0.0, 0.0, offered * duration_s, 0.0, 0.0
    elif performance.saturated:
        top = truth_max_throughput_rps(config, load.mean_prompt_tokens, load.mean_output_tokens, truth)
        served = min(offered, top)
        running = _full_batch(config, load)
        waiting, busy, kv_usage = (offered - served) * duration_s, 1.0, 1.0
    else:
        served, running, waiting = offered, performance.running, performance.waiting
        busy, kv_usage = min(performance.utilization, 1.0), performance.kv_usage
    host = _host_utilization(config, instance_type, load, served, busy, kv_usage)
    return ReplicaWindow(performance, host, offered, served, running, waiting)


def _full_batch(config: ServingConfig, load: ReplicaLoad) -> float:
    """Sequences running when saturated: max_num_seqs, or what the KV cache holds at half-decoded lengths."""
    tokens_each = load.mean_prompt_tokens + load.mean_output_tokens / 2 + config.block_size / 2
    return float(min(config.max_num_seqs, memory_budget(config).kv_capacity_tokens // max(tokens_each, 1.0)))


def _host_utilization(
    config: ServingConfig,
    instance_type: InstanceType,
    load: ReplicaLoad,
    served_rps: float,
    busy: float,
    kv_usage: float,
) -> HostUtilization:
    weights_gib, kv_pool_gib, gpu_total_gib = _memory_figures(config)
    tokens_per_request = load.mean_prompt_tokens + load.mean_output_tokens
    cores = (
        SERVER_IDLE_CORES
        + BUSY_CORES_PER_GPU * config.gpu_count * busy
        + served_rps * (CPU_SECONDS_PER_REQUEST + CPU_SECONDS_PER_TOKEN * tokens_per_request)
    )
    host_gib = RUNTIME_GIB + RUNTIME_GIB_PER_GPU * config.gpu_count + RESIDENT_WEIGHT_SHARE * weights_gib
    return HostUtilization(
        gpu_utilization=100.0 * busy,
        gpu_memory_used_gib=min(weights_gib + kv_usage * kv_pool_gib, gpu_total_gib),
        gpu_memory_total_gib=gpu_total_gib,
        cpu_utilization=min(100.0, 100.0 * cores / instance_type.vcpu),
        memory_utilization=min(100.0, 100.0 * host_gib / instance_type.memory_gib),
    )


class ReplicaTwin:
    """One replica: an instance of some type serving `model`, and the `/metrics` state it feeds."""

    def __init__(
        self,
        replica_id: str,
        instance_id: str,
        instance_type: InstanceType,
        model: ModelSpec,
        metrics: ReplicaMetricsState,
        *,
        config: ServingConfig | None = None,
    ) -> None:
        self.replica_id = replica_id
        self.instance_id = instance_id
        self.instance_type = instance_type
        self.model = model
        self.metrics = metrics
        self.config = config if config is not None else config_for_instance(instance_type, model)
        budget = memory_budget(self.config)
        if budget.fits:  # the engine reports the cache it sized at start, as vLLM does
            metrics.set_cache_config(
                block_size=self.config.block_size,
                num_gpu_blocks=budget.kv_capacity_tokens // self.config.block_size,
                gpu_memory_utilization=self.config.gpu_memory_utilization,
            )

    def simulate_window(
        self,
        load: ReplicaLoad,
        duration_s: float,
        rng: random.Random,
        requests_sample: int = DEFAULT_REQUESTS_SAMPLE,
        *,
        token_mix: TokenLengthMix | None = None,
        prefix_hit_rate: float = 0.0,
    ) -> ReplicaWindow:
        """Model the window and record it into the metrics state: up to `requests_sample` requests (token
        lengths from `token_mix`, else the load's means) into the histograms, every request into the
        counters, the gauges at the window's end, and the preemptions. `prefix_hit_rate` is the share of
        prompt tokens reported as prefix-cache hits (reported only: the capacity model does not credit it)."""
        if requests_sample < 0:
            raise ValueError(f"requests_sample cannot be negative, got {requests_sample}")
        if not 0.0 <= prefix_hit_rate <= 1.0:
            raise ValueError(f"prefix_hit_rate is a share in [0, 1], got {prefix_hit_rate}")
        window = model_window(self.config, self.instance_type, load, duration_s)
        _EmulatorFeed(self.metrics, rng, load, token_mix, prefix_hit_rate).record(
            window, duration_s, requests_sample
        )
        return window

    def __repr__(self) -> str:
        placement = f"{self.replica_id!r}, {self.instance_id!r}, {self.instance_type.name}"
        return f"ReplicaTwin({placement}, {self.model.name})"


class _EmulatorFeed:
    """Writes one window into a replica's metrics state."""

    def __init__(
        self,
        metrics: ReplicaMetricsState,
        rng: random.Random,
        load: ReplicaLoad,
        token_mix: TokenLengthMix | None,
        prefix_hit_rate: float,
    ) -> None:
        self._metrics = metrics
        self._rng = rng
        self._load = load
        self._token_mix = token_mix
        self._prefix_hit_rate = prefix_hit_rate

    def record(self, window: ReplicaWindow, duration_s: float, requests_sample: int) -> None:
        performance = window.performance
        failed = performance.oom
        finished = window.offered_rps if failed else window.served_rps
        count = stochastic_round(finished * duration_s, self._rng)
        observed = min(count, requests_sample)
        latencies = _LatencyDraws(performance, self._rng)
        reason: FinishReason = "error" if failed else "stop"
        for _ in range(observed):
            self._observe_one(latencies, reason, failed)
        if count > observed:
            self._count_unobserved(count - observed, reason, failed)
        self._metrics.set_gauges(
            running=round(window.running),
            waiting=round(window.waiting),
            kv_cache_usage=0.0 if failed else min(1.0, max(0.0, performance.kv_usage)),
        )
        if math.isfinite(performance.preemptions_per_s):
            preemptions = stochastic_round(performance.preemptions_per_s * duration_s, self._rng)
            if preemptions:
                self._metrics.record_preemptions(preemptions)

    def _observe_one(self, latencies: _LatencyDraws, reason: FinishReason, failed: bool) -> None:
        if failed:
            prompt = output = 0
        elif self._token_mix is not None:
            prompt, output = self._token_mix.sample(self._rng)
        else:
            prompt, output = round(self._load.mean_prompt_tokens), round(self._load.mean_output_tokens)
        ttft = latencies.ttft()
        e2e = min(ttft + max(output - 1, 0) * latencies.mean_gap(), names.REQUEST_LATENCY_BUCKETS[-1])
        self._metrics.observe_request(
            queue_s=latencies.queue(ttft),
            ttft_s=ttft,
            e2e_s=max(e2e, ttft),
            prompt_tokens=prompt,
            output_tokens=output,
            itl_runs=latencies.gaps(max(output - 1, 0)),
            prefix_queries=prompt,
            prefix_hits=round(prompt * self._prefix_hit_rate),
            finished_reason=reason,
        )

    def _count_unobserved(self, requests: int, reason: FinishReason, failed: bool) -> None:
        """Counters of the requests beyond the sample, at the load's mean lengths."""
        prompt = 0.0 if failed else requests * self._load.mean_prompt_tokens
        generated = 0.0 if failed else requests * self._load.mean_output_tokens
        self._metrics.add_counts(
            requests=requests,
            prompt_tokens=prompt,
            generation_tokens=generated,
            prefix_queries=prompt,
            prefix_hits=round(prompt * self._prefix_hit_rate),
            finished_reason=reason,
        )


class _LatencyDraws:
    """Per-request latencies around one window's modelled figures (see the module docstring)."""

    def __init__(self, performance: ReplicaPerformance, rng: random.Random) -> None:
        self._rng = rng
        self._saturated = performance.saturated
        if self._saturated:
            return
        p50 = max(performance.ttft_p50_s, 1e-6)
        self._ttft_mu = math.log(p50)
        self._ttft_sigma = max(math.log(max(performance.ttft_p95_s, p50) / p50), 0.0) / Z_95
        itl = performance.itl
        self._decode_mu = math.log(max(itl.decode_step_s if itl else performance.itl_s, 1e-6))
        self._mixed_mu = math.log(max(itl.mixed_step_s if itl else performance.itl_s, 1e-6))
        self._mixed_share = itl.mixed_share if itl else 0.0
        self._mean_mu = math.log(max(performance.itl_s, 1e-6))
        mean_ttft = performance.ttft_mean_s
        self._queue_share = min(performance.queue_s / mean_ttft, 1.0) if mean_ttft > 0 else 0.0

    def ttft(self) -> float:
        if self._saturated:
            return names.TTFT_BUCKETS[-1]
        return min(self._rng.lognormvariate(self._ttft_mu, self._ttft_sigma), names.TTFT_BUCKETS[-1])

    def gaps(self, count: int) -> list[tuple[float, int]]:
        """A request's `count` inter-token gaps as (gap, times) runs, as vLLM observes one per output
        token: each gap is a pure decode step or one that carries a prefill chunk, independently, with the
        model's share of the latter; each kind lasts one draw around its modelled duration."""
        if count <= 0:
            return []
        if self._saturated:
            return [(names.ITL_BUCKETS[-1], count)]
        mixed = binomial_count(count, self._mixed_share, self._rng)
        top = names.ITL_BUCKETS[-1]
        return [
            (min(self._rng.lognormvariate(mu, ITL_SIGMA), top), times)
            for mu, times in ((self._decode_mu, count - mixed), (self._mixed_mu, mixed))
            if times > 0
        ]

    def mean_gap(self) -> float:
        """A request's mean gap over its tokens: close to the modelled mean whatever kind each step was."""
        if self._saturated:
            return names.ITL_BUCKETS[-1]
        return self._rng.lognormvariate(self._mean_mu, ITL_SIGMA)

    def queue(self, ttft_s: float) -> float:
        if self._saturated:
            return names.REQUEST_LATENCY_BUCKETS[-1]
        return ttft_s * self._queue_share


def binomial_count(trials: int, probability: float, rng: random.Random) -> int:
    """Successes in `trials` independent trials of `probability`, exactly, in time proportional to the
    rarer outcome's count: the gaps between successes are geometric, so it jumps from one to the next."""
    if trials <= 0 or probability <= 0.0:
        return 0
    if probability >= 1.0:
        return trials
    if probability > 0.5:
        return trials - binomial_count(trials, 1.0 - probability, rng)
    log_miss = math.log1p(-probability)
    position, successes = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_miss) + 1
        if position > trials:
            return successes
        successes += 1


def stochastic_round(expected: float, rng: random.Random) -> int:
    """An integer count with the given expectation: the floor, plus one with the fractional probability."""
    if not expected > 0:
        return 0
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)
