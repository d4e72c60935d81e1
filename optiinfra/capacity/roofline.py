"""First-principles capacity of one vLLM replica: memory budget, step times, and a queueing model on top.

Physics (per engine step, per GPU of a tensor-parallel group):

- Memory: vLLM reserves `gpu_memory_utilization` of the memory the driver exposes; weights, the activation
  peak of one step of `max_num_batched_tokens` tokens and a fixed non-PyTorch overhead (CUDA context, CUDA
  graphs, NCCL buffers) come off first; the rest is KV cache, in `block_size`-token blocks.
- A step streams all weights plus the KV cache of every decoding sequence from HBM, and does
  2 FLOPs per parameter per token plus attention. Its time is the larger of the memory time and the
  compute time (a roofline), at achieved rather than peak rates, plus tensor-parallel all-reduces and a
  fixed per-step host overhead.

Queueing (continuous batching, one replica, Poisson arrivals, steady state):

- With chunked prefill (vLLM V1's default) the batch of B sequences admits B / output prompts per decode
  step. Below one, a whole prompt (or a budget-sized chunk of it) rides in that share of the steps, which
  are long, and the mean gap is the decode step plus that share of their extra time; from one up, every
  step carries B * prompt / output prompt tokens. Without it (vLLM V0's default) prefill steps pause
  decoding, so the GPU time a request costs is its prefill plus its share of the decode steps.
- The running batch B follows from Little's law, B = arrival rate * output tokens * inter-token latency,
  where the latency itself grows with B; throughput grows with B, so B is found by bisection. The batch is
  bounded by `max_num_seqs`, by the KV cache (each sequence holds prompt + output/2 tokens on average) and,
  with chunked prefill, by the token budget per step.
- Time to first token = API-server overhead + the rest of the step in flight + wait for a KV slot (M/M/c,
  Erlang C, with c the bounded batch) + wait for the prefill lane (M/D/1) + the prefill itself. Percentiles
  take each wait's exponential tail and add the parts, which overstates p95 slightly (a conservative bound).
- Preemptions: sequences are admitted on the KV they use now but grow while decoding; treating each
  sequence's progress as uniform, the KV demand of the batch is approximately normal, and a request is
  preempted (and recomputed) with the probability that demand exceeds the cache. Recompute cost is not
  charged back to throughput.

Not modelled: prefix caching, speculative decoding, CPU offload, LoRA, MoE routing, pipeline parallelism,
network time between client and server, variance of output lengths beyond the KV estimate.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from optiinfra.capacity.efficiency import DATASHEET_EFFICIENCY
from optiinfra.capacity.gpus import GpuSpec, gpu_spec_for_instance
from optiinfra.capacity.models import ModelSpec
from optiinfra.domain.fleet import InstanceType

BYTES_PER_GIB = 1024.0**3

MEMORY_BANDWIDTH_EFFICIENCY = DATASHEET_EFFICIENCY.bandwidth
MATMUL_EFFICIENCY = DATASHEET_EFFICIENCY.matmul
"""The datasheet fractions (`efficiency.DATASHEET_EFFICIENCY`), which a GPU without a calibration of its
own runs at. A vLLM single-stream decode of Llama-3.1-8B on an A100 40GB reaches about 77% of the bandwidth
ceiling, all per-step overheads included (johnmusgrave.com) - a row of the published comparison, so that
row is not an independent check of the bandwidth fraction."""


API_SERVER_OVERHEAD_S = DATASHEET_EFFICIENCY.request_overhead_s
"""Time before and after the GPU on every request: HTTP, chat template, tokenization, detokenization and
streaming. Published runs with short prompts show mean TTFTs tens of milliseconds above their prefill
time; the two TTFT rows of the published comparison bracket this value (roughly 10 ms on the 2024
completions endpoint, 50 ms on vLLM 0.11's chat endpoint), so they are not independent checks of it."""


ALLREDUCE_LATENCY_S = 20e-6
"""Fixed cost of one small NCCL all-reduce inside a node (tens of microseconds over NVLink or PCIe)."""

ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN = 32.0
"""Peak activation memory of one step, per batched token per hidden unit: about 16 FP16 values per hidden
unit live at once (QKV, the MLP's gate and up projections at ~3.5x hidden each, residual and norm
outputs). vLLM measures this peak with a profiling run of `max_num_batched_tokens` tokens."""

NON_TORCH_OVERHEAD_GIB = 1.0
"""Per-GPU memory outside weights, activations and KV: CUDA context, CUDA-graph pools, NCCL buffers."""


@dataclass(frozen=True)
class ServingConfig:
    """One vLLM replica: a model on `gpu_count` GPUs of one kind in a tensor-parallel group."""

    gpu: GpuSpec
    gpu_count: int
    model: ModelSpec
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 256
    block_size: int = 16
    max_num_batched_tokens: int = 2048
    chunked_prefill: bool = True

    def __post_init__(self) -> None:
        if self.gpu_count < 1:
            raise ValueError(f"gpu_count must be at least 1, got {self.gpu_count}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_num_seqs < 1 or self.block_size < 1 or self.max_num_batched_tokens < 1:
            raise ValueError("max_num_seqs, block_size and max_num_batched_tokens must be positive")

    @property
    def tensor_parallel(self) -> int:
        return self.gpu_count


LARGE_GPU_GIB = 70.0
"""vLLM's engine arguments give GPUs with at least 70 GiB (A100 80GB, H100, H200, B200) larger defaults."""


def default_max_num_batched_tokens(gpu: GpuSpec) -> int:
    """vLLM's default token budget per step for the OpenAI server: 8192 on large GPUs, 2048 elsewhere."""
    return 8192 if gpu.driver_visible_gib >= LARGE_GPU_GIB else 2048


def config_for_instance(instance_type: InstanceType, model: ModelSpec) -> ServingConfig:
    """One replica spanning every GPU of a catalog instance type (tensor parallel across all of them), with
    vLLM's defaults; adjust with `dataclasses.replace`."""
    gpu = gpu_spec_for_instance(instance_type)
    return ServingConfig(
        gpu, instance_type.gpu_count, model, max_num_batched_tokens=default_max_num_batched_tokens(gpu)
    )


def request_overhead_seconds(config: ServingConfig) -> float:
    """Time before a request's prefill that no GPU step accounts for: the API server's, and the host's
    admission work, which grows with the model's depth (`efficiency.StepEfficiency`)."""
    efficiency = config.gpu.achieved
    return efficiency.request_overhead_s + config.model.layers * efficiency.admission_per_layer_s


# --- memory ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryBudget:
    """Where one GPU's memory goes, and how many tokens of KV cache the replica has left."""

    usable_bytes: float
    weight_bytes: float
    activation_bytes: float
    overhead_bytes: float
    kv_cache_bytes: float
    kv_capacity_tokens: int
    reason: str | None

    @property
    def fits(self) -> bool:
        return self.reason is None


def kv_bytes_per_token_per_gpu(config: ServingConfig) -> float:
    """KV bytes one token costs on each GPU; KV heads are split across the TP group, and replicated when
    there are fewer KV heads than GPUs."""
    model = config.model
    heads_per_gpu = math.ceil(model.kv_heads / config.tensor_parallel)
    return 2 * model.layers * heads_per_gpu * model.head_dim * model.kv_cache_bytes


def memory_budget(config: ServingConfig) -> MemoryBudget:
    """vLLM's startup arithmetic for one GPU of the group; `reason` says why the model does not fit."""
    usable = config.gpu.driver_visible_gib * BYTES_PER_GIB * config.gpu_memory_utilization
    weights = config.model.weight_bytes / config.tensor_parallel
    activations = config.max_num_batched_tokens * config.model.hidden * ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN
    overhead = NON_TORCH_OVERHEAD_GIB * BYTES_PER_GIB
    kv_bytes = usable - weights - activations - overhead
    blocks = max(0, math.floor(kv_bytes / (kv_bytes_per_token_per_gpu(config) * config.block_size)))
    tokens = blocks * config.block_size
    reason = None
    if weights > usable:
        reason = (
            f"{config.model.name} weights need {weights / BYTES_PER_GIB:.1f} GiB per GPU but only "
            f"{usable / BYTES_PER_GIB:.1f} GiB is usable on {config.gpu.name} x{config.gpu_count}"
        )
    elif tokens < config.block_size:
        reason = (
            f"{config.model.name} fits on {config.gpu.name} x{config.gpu_count} but leaves "
            f"{max(kv_bytes, 0.0) / BYTES_PER_GIB:.2f} GiB, not one KV block, after activations and overhead"
        )
    return MemoryBudget(usable, weights, activations, overhead, max(kv_bytes, 0.0), tokens, reason)


def kv_capacity_tokens(config: ServingConfig) -> int:
    """Tokens the KV cache holds across the replica; 0 when the model does not fit (see `memory_budget`)."""
    budget = memory_budget(config)
    return budget.kv_capacity_tokens if budget.fits else 0


# --- step physics ---------------------------------------------------------------------------------------


def step_seconds(
    config: ServingConfig,
    decode_seqs: float,
    prefill_tokens: float = 0.0,
    decode_context: float = 0.0,
    prefill_context: float = 0.0,
) -> float:
    """Wall time of one engine step decoding `decode_seqs` sequences of `decode_context` tokens each and
    prefilling `prefill_tokens` tokens whose causal attention spans `prefill_context` tokens on average
    (twice the mean position of the chunk; the prompt length for a whole prompt)."""
    model, gpu, tp = config.model, config.gpu, config.tensor_parallel
    memory_bytes = (
        model.streamed_weight_bytes / tp + decode_seqs * decode_context * model.kv_bytes_per_token / tp
    )
    attention_flops = (
        4
        * model.layers
        * model.hidden
        * (decode_seqs * decode_context + prefill_tokens * prefill_context / 2)
    )
    flops = (
        decode_seqs * model.flops_per_token + prefill_tokens * model.prefill_flops_per_token + attention_flops
    ) / tp
    efficiency = gpu.achieved
    memory_time = memory_bytes / (gpu.bandwidth_bytes_per_s * efficiency.bandwidth)
    compute_time = flops / (gpu.peak_flops(model.fp8_compute) * efficiency.matmul)
    return (
        max(memory_time, compute_time)
        + allreduce_seconds(config, decode_seqs + prefill_tokens)
        + efficiency.step_overhead_s
    )


def allreduce_seconds(config: ServingConfig, tokens: float) -> float:
    """Two ring all-reduces of the hidden state per layer (after attention and after the MLP). On PCIe
    cards a group larger than one socket's GPUs runs its ring across the sockets, at its own fraction."""
    tp = config.tensor_parallel
    if tp == 1:
        return 0.0
    message_bytes = tokens * config.model.hidden * 2.0
    efficiency = config.gpu.achieved
    domain = config.gpu.gpus_per_pcie_domain
    fraction = (
        efficiency.cross_domain_interconnect
        if domain is not None and tp > domain
        else efficiency.interconnect
    )
    link_bytes_per_s = config.gpu.interconnect_gbps * 1e9 * fraction
    one = ALLREDUCE_LATENCY_S + 2 * (tp - 1) / tp * message_bytes / link_bytes_per_s
    return 2 * config.model.layers * one


def decode_step_seconds(config: ServingConfig, batch_size: float, mean_context_tokens: float) -> float:
    """One decode step for `batch_size` sequences: memory bound (weights + KV) at small batches, compute
    bound at large ones."""
    return step_seconds(config, batch_size, decode_context=mean_context_tokens)


def prefill_seconds(config: ServingConfig, prompt_tokens: float) -> float:
    """Time to prefill one prompt alone, in chunks of `max_num_batched_tokens` when chunked prefill is on."""
    if prompt_tokens <= 0:
        return 0.0
    chunk = config.max_num_batched_tokens if config.chunked_prefill else math.ceil(prompt_tokens)
    return chunked_prefill_seconds(config, prompt_tokens, float(chunk))


def chunked_prefill_seconds(
    config: ServingConfig,
    prompt_tokens: float,
    chunk: float,
    decode_seqs: float = 0.0,
    decode_context: float = 0.0,
) -> float:
    """The steps that prefill a prompt `chunk` tokens at a time, each also decoding `decode_seqs`
    sequences; every chunk's attention spans the prompt up to its end."""
    total, start = 0.0, 0.0
    while start < prompt_tokens:
        size = min(chunk, prompt_tokens - start)
        total += step_seconds(config, decode_seqs, size, decode_context, 2 * start + size)
        start += size
    return total


def decode_throughput_tokens_per_s(
    config: ServingConfig, batch_size: float, mean_context_tokens: float
) -> float:
    """Tokens per second the replica generates at a fixed decode batch."""
    return batch_size / decode_step_seconds(config, batch_size, mean_context_tokens)


def prefill_throughput_tokens_per_s(config: ServingConfig, prompt_tokens: float) -> float:
    """Prompt tokens per second when prefilling one prompt of this length."""
    return prompt_tokens / prefill_seconds(config, prompt_tokens)


# --- queueing model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaLoad:
    """Traffic offered to one replica: Poisson arrivals with these mean request shapes."""

    arrival_rps: float
    mean_prompt_tokens: float
    mean_output_tokens: float
    p95_prompt_tokens: float | None = None
    p99_prompt_tokens: float | None = None

    def __post_init__(self) -> None:
        if self.arrival_rps < 0 or self.mean_prompt_tokens < 0 or self.mean_output_tokens < 1:
            raise ValueError("arrival_rps and mean_prompt_tokens must be >= 0 and mean_output_tokens >= 1")


@dataclass(frozen=True)
class ItlDistribution:
    """Inter-token latency as vLLM's histogram sees it: one gap per decode step, and steps come in two
    kinds. With chunked prefill most steps only decode (`decode_step_s`); the rest also carry a prefill
    chunk (`mixed_step_s`), `mixed_share` of the steps. Without it, a gap that spans a prefill step lasts
    the decode step plus the whole prefill. Quantiles read the two-point mixture, so a p95 is the long step
    as soon as more than 5% of steps are long - the chunked-prefill tail that a mean hides."""

    decode_step_s: float
    mixed_step_s: float
    mixed_share: float

    def quantile(self, q: float) -> float:
        return self.mixed_step_s if self.mixed_share > 1.0 - q else self.decode_step_s


@dataclass(frozen=True)
class ReplicaPerformance:
    """Steady-state latencies and occupancy of one replica; latencies are infinite when saturated.
    `itl_s` is the mean gap (what throughput follows from); the quantiles come from `itl`."""

    ttft_mean_s: float
    ttft_p50_s: float
    ttft_p95_s: float
    itl_s: float
    e2e_s: float
    queue_s: float
    running: float
    waiting: float
    kv_usage: float
    preemptions_per_s: float
    utilization: float
    oom: bool
    saturated: bool
    reason: str | None = None
    ttft_p99_s: float = math.inf
    itl: ItlDistribution | None = None

    # The mean gap spreads prefill evenly over the steps (what throughput follows from); the mixture puts
    # it in whole chunks. The tail quantiles never read below the mean, nor the median above it.
    @property
    def itl_p50_s(self) -> float:
        return min(self.itl.quantile(0.50), self.itl_s) if self.itl is not None else self.itl_s

    @property
    def itl_p95_s(self) -> float:
        return max(self.itl.quantile(0.95), self.itl_s) if self.itl is not None else self.itl_s

    @property
    def itl_p99_s(self) -> float:
        return max(self.itl.quantile(0.99), self.itl_s) if self.itl is not None else self.itl_s


def _unservable(load: ReplicaLoad, reason: str, oom: bool) -> ReplicaPerformance:
    inf = math.inf
    waiting = inf if load.arrival_rps > 0 else 0.0
    return ReplicaPerformance(inf, inf, inf, inf, inf, inf, 0.0, waiting, 1.0, 0.0, inf, oom, True, reason)


@dataclass(frozen=True)
class _Shape:
    """A workload's per-request numbers, derived once."""

    prompt: float
    output: float
    context: float
    slots: int
    kv_tokens: int

    @property
    def prefill_share(self) -> float:
        """Prompt tokens per generated token: how much prefill rides along with each decode."""
        return self.prompt / self.output


def _shape(config: ServingConfig, prompt: float, output: float) -> _Shape | str:
    """Slots (the largest batch) for a workload, or why the replica cannot serve it at all."""
    budget = memory_budget(config)
    if not budget.fits:
        return budget.reason or "does not fit"
    if budget.kv_capacity_tokens < prompt + output:
        return (
            f"one request of {prompt + output:.0f} tokens exceeds the {budget.kv_capacity_tokens}-token "
            f"KV cache of {config.model.name} on {config.gpu.name} x{config.gpu_count}"
        )
    per_sequence = prompt + output / 2 + config.block_size / 2
    slots = max(1, min(config.max_num_seqs, math.floor(budget.kv_capacity_tokens / per_sequence)))
    return _Shape(prompt, output, prompt + output / 2, slots, budget.kv_capacity_tokens)


def _batch_limit(config: ServingConfig, shape: _Shape) -> float:
    """Largest sustainable decode batch: the slots, and with chunked prefill also the token budget, since
    each step must carry the batch's decodes plus their share of prompt tokens."""
    if not config.chunked_prefill:
        return float(shape.slots)
    return min(float(shape.slots), config.max_num_batched_tokens / (1 + shape.prefill_share))


@dataclass(frozen=True)
class _ChunkedSteps:
    """With chunked prefill, vLLM gives waiting prompts what the decoding batch leaves of the step's token
    budget. A batch of B sequences with O-token outputs admits B/O prompts per decode step: fewer than one,
    and a whole prompt (or a budget-sized chunk of it) rides in a fraction of the steps, which are long;
    one or more, and every step carries B x P / O prompt tokens. `chunks_per_step` is that fraction."""

    decode_s: float
    mixed_s: float
    chunks_per_step: float

    @property
    def interval_s(self) -> float:
        """Mean time between a sequence's tokens. Beyond one chunk per decode step prefill cannot keep up
        and every step carries a chunk: the batch is then paced by prefill (a saturated replica)."""
        k = self.chunks_per_step
        if k <= 1.0:
            return self.decode_s + k * (self.mixed_s - self.decode_s)
        return k * self.mixed_s


def _chunked_steps(config: ServingConfig, shape: _Shape, batch: float) -> _ChunkedSteps:
    """Steps at a mean of `batch` decoding sequences. The steps' costs take at least one sequence; the share
    of gaps a prompt chunk lengthens takes the mean itself: a request decoding alone never waits behind
    its own prefill, so below one sequence in flight few gaps span one."""
    seqs = max(batch, 1.0)
    decode = decode_step_seconds(config, seqs, shape.context)
    if shape.prompt <= 0:
        return _ChunkedSteps(decode, decode, 0.0)
    room = max(config.max_num_batched_tokens - seqs, 1.0)
    per_step = max(batch, 0.0) * shape.prompt / shape.output
    chunk = min(room, max(shape.prompt, per_step))
    mixed = step_seconds(config, seqs, chunk, shape.context, shape.prompt)
    return _ChunkedSteps(decode, mixed, per_step / chunk)


def _decode_interval(config: ServingConfig, shape: _Shape, batch: float, prefill_busy: float) -> float:
    """Mean time between a sequence's tokens at `batch` decoding sequences (never fewer than itself)."""
    seqs = max(batch, 1.0)
    if config.chunked_prefill:
        return _chunked_steps(config, shape, batch).interval_s
    return decode_step_seconds(config, seqs, shape.context) / (1 - prefill_busy)


def _throughput_at(config: ServingConfig, shape: _Shape, batch: float) -> float:
    """Requests per second completed with `batch` sequences decoding on average (increasing in the batch).
    Without chunked prefill each request also costs its prefill, during which nothing decodes."""
    seqs = max(batch, 1.0)
    if config.chunked_prefill:
        return batch / (shape.output * _decode_interval(config, shape, seqs, 0.0))
    decode_time = shape.output * decode_step_seconds(config, seqs, shape.context)
    return batch / (batch * prefill_seconds(config, shape.prompt) + decode_time)


def _batch_for(config: ServingConfig, shape: _Shape, arrival_rps: float) -> float | None:
    """The decode batch at which throughput equals the arrival rate (Little's law); None if even the
    largest sustainable batch cannot keep up."""
    limit = _batch_limit(config, shape)
    if arrival_rps >= _throughput_at(config, shape, limit):
        return None
    low, high = 0.0, limit
    for _ in range(48):  # the batch to 1e-12 of its limit
        middle = (low + high) / 2
        if _throughput_at(config, shape, middle) < arrival_rps:
            low = middle
        else:
            high = middle
    return high


def _erlang_c(servers: int, offered: float) -> float:
    """Probability an arrival waits in an M/M/c queue (offered load < servers), via stable Erlang B."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    return blocking / (1 - offered / servers * (1 - blocking))


def _tail_quantile(mean_wait: float, wait_probability: float, quantile: float) -> float:
    """Quantile of a wait that is 0 with probability 1 - p and exponential otherwise."""
    if wait_probability <= 1 - quantile or mean_wait <= 0:
        return 0.0
    conditional_mean = mean_wait / wait_probability
    return conditional_mean * math.log(wait_probability / (1 - quantile))


def _prefill_duration(config: ServingConfig, shape: _Shape, batch: float, prompt: float) -> float:
    """How long a prompt takes once its prefill starts; chunked prefill shares steps with the batch."""
    if not config.chunked_prefill:
        return prefill_seconds(config, prompt)
    room = max(config.max_num_batched_tokens - max(batch, 1.0), 1.0)
    return chunked_prefill_seconds(config, prompt, room, max(batch, 1.0), shape.context)


@dataclass(frozen=True)
class _SteadyState:
    """The operating point of a replica at one arrival rate, before percentiles are taken."""

    rate: float
    batch: float
    itl: float
    step_in_flight: float
    prefill_busy: float
    prefill_wait: float
    prefill_mean: float
    slot_hold: float
    occupancy: float
    itl_distribution: ItlDistribution


def _steady_state(config: ServingConfig, shape: _Shape, rate: float) -> _SteadyState | str:
    """Batch from Little's law, then the prefill lane as an M/D/1 queue: with chunked prefill prompt tokens
    fill what the batch leaves of each step's token budget; without it prefill steps run alone and pause
    decoding. Returns why the replica is saturated when no steady state exists."""
    batch = _batch_for(config, shape, rate)
    if batch is None:
        return "arrival rate exceeds the replica's decode throughput"
    seqs = max(batch, 1.0)
    if config.chunked_prefill:
        room = max(config.max_num_batched_tokens - seqs, 1.0)
        service = shape.prompt * step_seconds(config, seqs, room, shape.context, shape.prompt) / room
        in_flight = _decode_interval(config, shape, batch, 0.0)
    else:
        service = prefill_seconds(config, shape.prompt)
        in_flight = decode_step_seconds(config, seqs, shape.context)
    busy = rate * service
    if busy >= 1:
        return "prefill cannot keep up with arrivals"
    itl = _decode_interval(config, shape, batch, 0.0 if config.chunked_prefill else busy)
    prefill_mean = _prefill_duration(config, shape, batch, shape.prompt)
    slot_hold = prefill_mean + shape.output * itl
    occupancy = rate * slot_hold
    if occupancy >= shape.slots:
        return "KV cache / max_num_seqs slots are full"
    prefill_wait = busy * service / (2 * (1 - busy))
    return _SteadyState(
        rate,
        batch,
        itl,
        in_flight,
        busy,
        prefill_wait,
        prefill_mean,
        slot_hold,
        occupancy,
        _itl_distribution(config, shape, rate, batch),
    )


def _itl_distribution(config: ServingConfig, shape: _Shape, rate: float, batch: float) -> ItlDistribution:
    """Pure-decode and prefill-carrying steps at the operating point. With chunked prefill the share of
    steps that carry a chunk is the chunks per decode step (`_ChunkedSteps`); without it, a gap that spans
    a prefill step lasts the decode step plus the prefill, once per arriving request."""
    seqs = max(batch, 1.0)
    decode = decode_step_seconds(config, seqs, shape.context)
    if shape.prompt <= 0 or rate <= 0:
        return ItlDistribution(decode, decode, 0.0)
    if config.chunked_prefill:
        steps = _chunked_steps(config, shape, batch)
        return ItlDistribution(steps.decode_s, steps.mixed_s, min(1.0, steps.chunks_per_step))
    mixed = decode + prefill_seconds(config, shape.prompt)
    mixed_per_s = rate
    busy = min(mixed_per_s * mixed, 1.0)
    steps_per_s = mixed_per_s + (1.0 - busy) / decode
    return ItlDistribution(decode, mixed, min(1.0, mixed_per_s / steps_per_s))


def replica_performance(config: ServingConfig, load: ReplicaLoad) -> ReplicaPerformance:
    """Steady-state latencies, occupancy and KV pressure of one replica under `load`."""
    shape = _shape(config, load.mean_prompt_tokens, load.mean_output_tokens)
    if isinstance(shape, str):
        return _unservable(load, shape, oom=True)
    state = _steady_state(config, shape, load.arrival_rps)
    if isinstance(state, str):
        return _unservable(load, state, oom=False)

    wait_probability = _erlang_c(shape.slots, state.occupancy) if state.rate > 0 else 0.0
    slot_wait = wait_probability * state.slot_hold / (shape.slots - state.occupancy)
    p95_prompt = load.p95_prompt_tokens if load.p95_prompt_tokens is not None else shape.prompt

    def waits(quantile: float) -> float:
        return _tail_quantile(slot_wait, wait_probability, quantile) + _tail_quantile(
            state.prefill_wait, state.prefill_busy, quantile
        )

    overhead = request_overhead_seconds(config)
    before_prefill = overhead + state.step_in_flight / 2
    ttft_mean = before_prefill + slot_wait + state.prefill_wait + state.prefill_mean
    ttft_p50 = before_prefill + waits(0.5) + state.prefill_mean
    ttft_p95 = (
        overhead
        + state.step_in_flight * 0.95
        + waits(0.95)
        + _prefill_duration(config, shape, state.batch, p95_prompt)
    )
    p99_prompt = load.p99_prompt_tokens if load.p99_prompt_tokens is not None else p95_prompt
    ttft_p99 = (
        overhead
        + state.step_in_flight * 0.99
        + waits(0.99)
        + _prefill_duration(config, shape, state.batch, p99_prompt)
    )
    queue = slot_wait + state.prefill_wait
    per_sequence = shape.context + config.block_size / 2
    return ReplicaPerformance(
        ttft_mean_s=ttft_mean,
        ttft_p50_s=ttft_p50,
        ttft_p95_s=ttft_p95,
        itl_s=state.itl,
        e2e_s=ttft_mean + (shape.output - 1) * state.itl,
        queue_s=queue,
        running=state.occupancy,
        waiting=state.rate * queue,
        kv_usage=min(1.0, state.occupancy * per_sequence / shape.kv_tokens),
        preemptions_per_s=state.rate * _kv_overflow_probability(shape, state.occupancy, per_sequence),
        utilization=state.rate / max_throughput_rps(config, shape.prompt, shape.output),
        oom=False,
        saturated=False,
        ttft_p99_s=ttft_p99,
        itl=state.itl_distribution,
    )


def _kv_overflow_probability(shape: _Shape, sequences: float, per_sequence: float) -> float:
    """P(KV demand > cache) with each sequence's decode progress uniform: demand ~ Normal(n m, n O^2/12)."""
    if sequences <= 0:
        return 0.0
    spread = math.sqrt(sequences / 12) * shape.output
    headroom = shape.kv_tokens - sequences * per_sequence
    return 0.5 * math.erfc(headroom / (spread * math.sqrt(2)))


@lru_cache(maxsize=4096)
def max_throughput_rps(config: ServingConfig, prompt_tokens: float, output_tokens: float) -> float:
    """Largest arrival rate the replica sustains (finite latencies) for this request shape; 0 if it cannot
    serve the shape at all."""
    shape = _shape(config, prompt_tokens, output_tokens)
    if isinstance(shape, str):
        return 0.0
    upper = _throughput_at(config, shape, _batch_limit(config, shape))
    return largest_feasible_rate(upper, lambda rate: not isinstance(_steady_state(config, shape, rate), str))


def largest_feasible_rate(upper: float, feasible: Callable[[float], bool], iterations: int = 60) -> float:
    """Largest rate in [0, upper] for which `feasible` holds, given feasibility only shrinks with rate."""
    low, high = 0.0, upper
    for _ in range(iterations):
        middle = (low + high) / 2
        if feasible(middle):
            low = middle
        else:
            high = middle
    return low


def max_rps_under_slo(
    config: ServingConfig,
    prompt_tokens: float,
    output_tokens: float,
    ttft_p95_slo_s: float,
    itl_p95_slo_s: float,
    p95_prompt_tokens: float | None = None,
) -> float:
    """The highest arrival rate one replica serves with p95 TTFT and p95 ITL within their SLOs (0 when
    even a lone request misses them). Bisection on the rate, so larger SLOs never give a smaller answer."""
    capacity = max_throughput_rps(config, prompt_tokens, output_tokens)

    def meets_slo(rate: float) -> bool:
        found = replica_performance(
            config, ReplicaLoad(rate, prompt_tokens, output_tokens, p95_prompt_tokens)
        )
        return not found.saturated and found.ttft_p95_s <= ttft_p95_slo_s and found.itl_p95_s <= itl_p95_slo_s

    if capacity <= 0 or not meets_slo(0.0):
        return 0.0
    return largest_feasible_rate(capacity, meets_slo)
