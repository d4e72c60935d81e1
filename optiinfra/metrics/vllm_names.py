"""The vLLM Prometheus metric names, labels and histogram buckets this project reads, in one place.

Source: `vllm/v1/metrics/loggers.py` (`PrometheusStatLogger`) of the vLLM v1 engine, as of vLLM 0.12.x
(the file says of the ITL rename: "Deprecated in 0.11 ... With 0.12.x you can enable with
--show-hidden-metrics-for-version=0.11 ... remove in 0.13.0"), read together with the 0.10.x file for
the earlier renames and `vllm/v1/engine/__init__.py` for the finish reasons. Checked against the vLLM
design doc "Metrics" (docs/design/metrics.md), which lists the v0 names.

Labels: every metric carries `model_name` (the served model name) and `engine` (the engine-core index,
"0" unless data parallel puts several engines behind one API server); `vllm:request_success` adds
`finished_reason` in ("stop", "length", "abort", "error", "repetition"). The v0 engine had only
`model_name`. Counters are declared without `_total` in vLLM's code; the exposition adds it
(`vllm:prompt_tokens_total`), as it did for the v0 names that were declared with it.

Types and buckets (seconds unless said):
- gauges: `vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`
  (a fraction, 1 = 100 %)
- counters: `vllm:num_preemptions`, `vllm:prompt_tokens`, `vllm:generation_tokens`,
  `vllm:prefix_cache_queries`, `vllm:prefix_cache_hits` (both in tokens), `vllm:request_success`
- `vllm:time_to_first_token_seconds`: 0.001 ... 2560 (22 bounds, `TTFT_BUCKETS`)
- `vllm:inter_token_latency_seconds`: 0.01 ... 80 (19 bounds, `ITL_BUCKETS`); one observation per
  output token after the first
- `vllm:e2e_request_latency_seconds`, `vllm:request_queue_time_seconds`: 0.3 ... 7680 (21 bounds,
  `REQUEST_LATENCY_BUCKETS`)
- `vllm:request_prompt_tokens`, `vllm:request_generation_tokens`: 1-2-5 series up to max_model_len

Old names and what replaced them (`LEGACY_ALIASES`):
- `vllm:gpu_cache_usage_perc` -> `vllm:kv_cache_usage_perc` (deprecated 0.9, hidden 0.10)
- `vllm:gpu_prefix_cache_queries` / `_hits` -> `vllm:prefix_cache_queries` / `_hits` (deprecated 0.9)
- `vllm:time_per_output_token_seconds` -> `vllm:inter_token_latency_seconds` (deprecated 0.11, hidden
  0.12; same buckets)
- `vllm:num_preemptions_total`, `vllm:prompt_tokens_total`, ... (v0 declarations) expose the same
  series as the v1 counters, so they need no alias.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

NUM_REQUESTS_RUNNING = "vllm:num_requests_running"
NUM_REQUESTS_WAITING = "vllm:num_requests_waiting"
KV_CACHE_USAGE_PERC = "vllm:kv_cache_usage_perc"

NUM_PREEMPTIONS = "vllm:num_preemptions"
PROMPT_TOKENS = "vllm:prompt_tokens"
GENERATION_TOKENS = "vllm:generation_tokens"
PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits"
REQUEST_SUCCESS = "vllm:request_success"

TIME_TO_FIRST_TOKEN = "vllm:time_to_first_token_seconds"
INTER_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
E2E_REQUEST_LATENCY = "vllm:e2e_request_latency_seconds"
REQUEST_QUEUE_TIME = "vllm:request_queue_time_seconds"
REQUEST_PROMPT_TOKENS = "vllm:request_prompt_tokens"
REQUEST_GENERATION_TOKENS = "vllm:request_generation_tokens"

LEGACY_GPU_CACHE_USAGE_PERC = "vllm:gpu_cache_usage_perc"
LEGACY_GPU_PREFIX_CACHE_QUERIES = "vllm:gpu_prefix_cache_queries"
LEGACY_GPU_PREFIX_CACHE_HITS = "vllm:gpu_prefix_cache_hits"
LEGACY_TIME_PER_OUTPUT_TOKEN = "vllm:time_per_output_token_seconds"
LEGACY_NUM_REQUESTS_SWAPPED = "vllm:num_requests_swapped"

CACHE_CONFIG_INFO = "vllm:cache_config_info"
"""A gauge of 1 whose labels are the engine's cache settings: `num_gpu_blocks` x `block_size` is the KV
cache's size in tokens as the engine sized it at start (vLLM 0.32 also gives `kv_cache_size_tokens`)."""

LABEL_MODEL_NAME = "model_name"
LABEL_ENGINE = "engine"
LABEL_FINISHED_REASON = "finished_reason"

FinishReason = Literal["stop", "length", "abort", "error", "repetition"]
FINISH_REASONS: tuple[FinishReason, ...] = ("stop", "length", "abort", "error", "repetition")
ERROR_REASON: FinishReason = "error"
ABORT_REASON: FinishReason = "abort"

GAUGES = frozenset({NUM_REQUESTS_RUNNING, NUM_REQUESTS_WAITING, KV_CACHE_USAGE_PERC})
COUNTERS = frozenset(
    {
        NUM_PREEMPTIONS,
        PROMPT_TOKENS,
        GENERATION_TOKENS,
        PREFIX_CACHE_QUERIES,
        PREFIX_CACHE_HITS,
        REQUEST_SUCCESS,
    }
)
HISTOGRAMS = frozenset(
    {
        TIME_TO_FIRST_TOKEN,
        INTER_TOKEN_LATENCY,
        E2E_REQUEST_LATENCY,
        REQUEST_QUEUE_TIME,
        REQUEST_PROMPT_TOKENS,
        REQUEST_GENERATION_TOKENS,
    }
)
# Gauges that are averaged, not summed, when one endpoint reports several engines.
AVERAGED_GAUGES = frozenset({KV_CACHE_USAGE_PERC})

LEGACY_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        LEGACY_GPU_CACHE_USAGE_PERC: KV_CACHE_USAGE_PERC,
        LEGACY_GPU_PREFIX_CACHE_QUERIES: PREFIX_CACHE_QUERIES,
        LEGACY_GPU_PREFIX_CACHE_HITS: PREFIX_CACHE_HITS,
        LEGACY_TIME_PER_OUTPUT_TOKEN: INTER_TOKEN_LATENCY,
    }
)
CURRENT_TO_LEGACY: Mapping[str, str] = MappingProxyType({new: old for old, new in LEGACY_ALIASES.items()})

TTFT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
ITL_BUCKETS: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)


def canonical_name(name: str) -> str:
    """The current name for a metric family, whichever vLLM version exposed it."""
    return LEGACY_ALIASES.get(name, name)


def build_1_2_5_buckets(max_value: int) -> tuple[float, ...]:
    """vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... while not above `max_value` (max_model_len)."""
    buckets: list[float] = []
    scale = 1
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * scale
            if value > max_value:
                return tuple(buckets)
            buckets.append(float(value))
        scale *= 10
