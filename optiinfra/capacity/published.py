"""Published vLLM measurements the capacity model is checked against, each with enough of its setup
(GPU, model, request shape, load, scheduler mode) to reproduce it in the model.

Only figures whose setup is stated in the source are kept. Llama-3-8B and Llama-3.1-8B share an
architecture, so the Llama-3.1-8B spec stands for both. Benchmarks run at a fixed client concurrency are
modelled as Poisson arrivals at the request rate the benchmark itself reported (close for low
concurrency, where queueing is negligible either way).
"""

from dataclasses import dataclass
from enum import StrEnum

from optiinfra.capacity.gpus import A10G, A100_40GB, H100, GpuSpec
from optiinfra.capacity.models import LLAMA_3_1_8B, QWEN3_8B, ModelSpec


class Metric(StrEnum):
    """What a published figure measures, in SI units (seconds, tokens per second)."""

    MEAN_ITL_S = "mean ITL (s)"
    MEAN_TTFT_S = "mean TTFT (s)"
    DECODE_TOKENS_PER_S = "decode tokens/s"
    SATURATED_OUTPUT_TOKENS_PER_S = "saturated output tokens/s"

    @property
    def is_latency(self) -> bool:
        return self in (Metric.MEAN_ITL_S, Metric.MEAN_TTFT_S)


@dataclass(frozen=True)
class Workload:
    """The requests a figure was measured with: mean lengths, and either an arrival rate or a fixed batch."""

    prompt_tokens: float
    output_tokens: float
    arrival_rps: float | None = None
    decode_batch: int | None = None


@dataclass(frozen=True)
class Source:
    """Where a figure was published, and the vLLM it was measured with."""

    title: str
    url: str
    date: str
    vllm_version: str


@dataclass(frozen=True)
class PublishedFigure:
    """One measured number and the setup it was measured under."""

    gpu: GpuSpec
    gpu_count: int
    model: ModelSpec
    model_as_published: str
    metric: Metric
    value: float
    workload: Workload
    source: Source
    chunked_prefill: bool
    max_num_batched_tokens: int
    approximate: bool = False
    note: str = ""


_LLM_COMPRESSOR = "https://github.com/vllm-project/llm-compressor/blob/{commit}/examples/benchmarking/{path}"
_V0_ASSUMED = "not stated (2024; V0 scheduler, no chunked prefill, assumed)"
A10G_ONLINE = Source(
    "vLLM llm-compressor, examples/benchmarking/online_serving/README.md",
    _LLM_COMPRESSOR.format(
        commit="2d8ce6f3edb08f2afe183204b8b49427fea4a68a", path="online_serving/README.md"
    ),
    "2024 (repository commit 2d8ce6f)",
    _V0_ASSUMED,
)
A10G_OFFLINE = Source(
    "vLLM llm-compressor, examples/benchmarking/offline_batch/README.md",
    _LLM_COMPRESSOR.format(commit="53750c257302cc51db5659b94259d46d0321bb8e", path="offline_batch/README.md"),
    "2024 (repository commit 53750c2)",
    _V0_ASSUMED,
)
A100_SWEEP = Source(
    "John Musgrave, vLLM throughput-latency sweep on NVIDIA A100",
    "https://johnmusgrave.com/p/vllm-throughput-latency-sweep-on",
    "not stated in the stored copy",
    "0.23.0 (as stated)",
)
H100_GPUSTACK = Source(
    "GPUStack performance lab, Optimizing Qwen3-8B Latency on NVIDIA H100 GPUs",
    "https://github.com/gpustack/gpustack/blob/1dbc3b8130da92d31539404545a1aff5c3992f8c/"
    "docs/performance-lab/qwen3-8b/h100-latency.md",
    "late 2025 (repository commit 1dbc3b8)",
    "v0.11.0",
)

A10G_SHAREGPT_1_RPS = Workload(22805 / 100, 17981 / 100, arrival_rps=1.0)
"""ShareGPT at 1 request/s (Poisson), 100 prompts: 22,805 input and 17,981 generated tokens in total."""
H100_SHAREGPT_CONCURRENCY_4 = Workload(23260 / 100, 22061 / 100, arrival_rps=2.25)
"""ShareGPT at max concurrency 4, 100 prompts: 23,260 input and 22,061 generated tokens, 2.25 requests/s."""

_LLAMA3_8B = "Meta-Llama-3-8B-Instruct (FP16)"
_QWEN3_8B = "Qwen/Qwen3-8B (BF16)"

PUBLISHED_FIGURES: tuple[PublishedFigure, ...] = (
    PublishedFigure(
        A10G,
        1,
        LLAMA_3_1_8B,
        _LLAMA3_8B,
        Metric.MEAN_ITL_S,
        42.52e-3,
        A10G_SHAREGPT_1_RPS,
        A10G_ONLINE,
        chunked_prefill=False,
        max_num_batched_tokens=8192,
        note="benchmark_serving.py on the OpenAI server; mean TPOT",
    ),
    PublishedFigure(
        A10G,
        1,
        LLAMA_3_1_8B,
        _LLAMA3_8B,
        Metric.MEAN_TTFT_S,
        106.36e-3,
        A10G_SHAREGPT_1_RPS,
        A10G_ONLINE,
        chunked_prefill=False,
        max_num_batched_tokens=8192,
        note="same run as the ITL row; mean TTFT",
    ),
    PublishedFigure(
        A10G,
        1,
        LLAMA_3_1_8B,
        _LLAMA3_8B,
        Metric.SATURATED_OUTPUT_TOKENS_PER_S,
        488.13,
        Workload(545.05, 225.47),
        A10G_OFFLINE,
        chunked_prefill=False,
        max_num_batched_tokens=8192,
        note="1,000 UltraChat prompts submitted at once, max_num_seqs 256, gpu_memory_utilization 0.9",
    ),
    PublishedFigure(
        A100_40GB,
        1,
        LLAMA_3_1_8B,
        "Llama-3.1-8B-Instruct (BF16)",
        Metric.DECODE_TOKENS_PER_S,
        75.0,
        Workload(1024, 128, decode_batch=1),
        A100_SWEEP,
        chunked_prefill=True,
        max_num_batched_tokens=2048,
        approximate=True,
        note="'about 75 tokens/sec' one request at a time, 1024 in / 128 out, Lambda A100 40GB",
    ),
    PublishedFigure(
        H100,
        1,
        QWEN3_8B,
        _QWEN3_8B,
        Metric.MEAN_ITL_S,
        7.38e-3,
        H100_SHAREGPT_CONCURRENCY_4,
        H100_GPUSTACK,
        chunked_prefill=True,
        max_num_batched_tokens=8192,
        note="vllm bench serve, max concurrency 4, H100 SXM; mean TPOT",
    ),
    PublishedFigure(
        H100,
        1,
        QWEN3_8B,
        _QWEN3_8B,
        Metric.MEAN_TTFT_S,
        64.00e-3,
        H100_SHAREGPT_CONCURRENCY_4,
        H100_GPUSTACK,
        chunked_prefill=True,
        max_num_batched_tokens=8192,
        note="same run as the ITL row; mean TTFT on the chat completions endpoint",
    ),
)
