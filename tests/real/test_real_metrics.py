"""The metrics OptiInfra reads, on a real vLLM: the twin's emulator serves the same families, labels and
buckets as vLLM 0.32 for everything the scraper reads, and the scraper and window statistics read the real
page as the test's own client measured the traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import fmean

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import parse_vllm_metrics
from optiinfra.metrics.windows import histogram_quantile, window_stats
from optiinfra.sim.vllm_emulator import ReplicaMetricsState
from tests.real.client import complete_all, words
from tests.support.real_vllm import DEFAULT_KV_CACHE_BYTES, DEFAULT_MAX_MODEL_LEN, SERVED_NAME, VllmServer

pytestmark = pytest.mark.real_vllm

READ_BY_THE_SCRAPER = names.GAUGES | names.COUNTERS | names.HISTOGRAMS

NOT_EMULATED = {
    "vllm:engine_sleep_state": "sleep mode is not used by OptiInfra",
    "vllm:admission_rejections": "no admission control in the twin",
    "vllm:estimated_flops_per_gpu": "per-GPU work estimates; the capacity model has its own",
    "vllm:estimated_read_bytes_per_gpu": "per-GPU work estimates; the capacity model has its own",
    "vllm:estimated_write_bytes_per_gpu": "per-GPU work estimates; the capacity model has its own",
    "vllm:mm_cache_queries": "multi-modal inputs: none in this fleet",
    "vllm:mm_cache_hits": "multi-modal inputs: none in this fleet",
    "vllm:iteration_tokens_total": "tokens per engine step; the capacity model owns the step",
    "vllm:request_decode_time_seconds": "per-phase request times; TTFT, ITL and e2e cover them",
    "vllm:request_inference_time_seconds": "per-phase request times; TTFT, ITL and e2e cover them",
    "vllm:request_prefill_time_seconds": "per-phase request times; TTFT, ITL and e2e cover them",
    "vllm:request_time_per_output_token_seconds": "per-request mean gap; the ITL histogram is read",
    "vllm:request_max_num_generation_tokens": "request parameters, not load",
    "vllm:request_params_max_tokens": "request parameters, not load",
    "vllm:request_params_n": "request parameters, not load",
    "vllm:request_num_preemptions": "per-request preemptions; the preemption counter is read",
    "vllm:request_prefill_kv_computed_tokens": "prefill work per request; prompt and hit counters cover it",
}
"""vLLM 0.32 families the emulator does not serve, and why none of them matters to the scraper."""

BREAKDOWNS = {
    "vllm:prompt_tokens_by_source": "source",
    "vllm:prompt_tokens_cached_by_source": "source",
    "vllm:num_requests_waiting_by_reason": "reason",
    "vllm:prompt_tokens_cached": "engine",
    "vllm:external_prefix_cache_queries": "engine",
    "vllm:external_prefix_cache_hits": "engine",
}
"""Breakdowns the emulator serves for parity, with the label that splits them."""


def _families(text: str) -> dict[str, tuple[str, dict[str, set[tuple[str, ...]]]]]:
    """family -> (type, sample name -> the label-name sets its samples carry)."""
    found: dict[str, tuple[str, dict[str, set[tuple[str, ...]]]]] = {}
    for family in text_string_to_metric_families(text):
        labels: dict[str, set[tuple[str, ...]]] = {}
        for sample in family.samples:
            labels.setdefault(sample.name, set()).add(tuple(sorted(sample.labels)))
        found[family.name] = (family.type, labels)
    return found


def _label_values(text: str, family_name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        if family.name == family_name
        for sample in family.samples
        if label in sample.labels
    }


def _bucket_edges(text: str, family_name: str) -> list[str]:
    return [
        sample.labels["le"]
        for family in text_string_to_metric_families(text)
        if family.name == family_name
        for sample in family.samples
        if sample.name.endswith("_bucket")
    ]


async def _real_page(server: VllmServer) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/metrics", timeout=10.0)
        response.raise_for_status()
        return response.text


async def test_the_emulator_serves_what_real_vllm_serves_for_everything_the_scraper_reads(
    real_vllm: VllmServer,
) -> None:
    done = await complete_all(real_vllm.url, [words(40, seed) for seed in range(6)], max_tokens=12)
    real = await _real_page(real_vllm)
    emulator = ReplicaMetricsState(SERVED_NAME, max_model_len=DEFAULT_MAX_MODEL_LEN)
    emulator.set_cache_config(block_size=128, num_gpu_blocks=512, gpu_memory_utilization=0.92)
    for completion in done:
        emulator.observe_request(
            queue_s=0.0,
            ttft_s=completion.ttft_s,
            e2e_s=completion.e2e_s,
            prompt_tokens=completion.prompt_tokens,
            output_tokens=completion.completion_tokens,
            itl_s=list(completion.gaps_s),
            finished_reason="length",
        )
    emulated = emulator.render().decode()
    real_families, emulated_families = _families(real), _families(emulated)

    vllm_families = {name for name in real_families if name.startswith("vllm:")}
    missing = {name.removesuffix("_created") for name in vllm_families - set(emulated_families)}
    assert missing == set(NOT_EMULATED), "a family appeared in vLLM or went from it"
    assert set(emulated_families) - set(real_families) == set()
    for family in sorted(READ_BY_THE_SCRAPER):
        assert family in real_families, f"vLLM 0.32 no longer serves {family}"
        assert emulated_families[family] == real_families[family], family
        created = f"{family}_created"
        if family not in names.GAUGES:  # the counters' start time, which the scraper reads as restarts
            assert emulated_families[created] == real_families[created], created
        assert _bucket_edges(emulated, family) == _bucket_edges(real, family), family
    reasons = names.LABEL_FINISHED_REASON
    assert _label_values(emulated, names.REQUEST_SUCCESS, reasons) == _label_values(
        real, names.REQUEST_SUCCESS, reasons
    )
    assert _label_values(real, names.REQUEST_SUCCESS, reasons) == set(names.FINISH_REASONS)
    assert _label_values(real, names.KV_CACHE_USAGE_PERC, names.LABEL_MODEL_NAME) == {SERVED_NAME}
    info = names.CACHE_CONFIG_INFO
    assert emulated_families[info] == real_families[info]
    assert parse_vllm_metrics(real, replica="r", at=datetime.now(UTC)).kv_cache_tokens == (
        DEFAULT_KV_CACHE_BYTES // 1024  # the tiny model's fp32 keys and values take 1 KiB a token
    )
    for family, label in BREAKDOWNS.items():
        assert emulated_families[family] == real_families[family], family
        assert _label_values(emulated, family, label) == _label_values(real, family, label), family


async def test_the_scraper_and_window_statistics_read_real_traffic_as_the_client_measured_it(
    real_vllm: VllmServer,
) -> None:
    before_at = datetime.now(UTC)
    before = parse_vllm_metrics(await _real_page(real_vllm), replica="r", at=before_at)
    shared = words(300, 99)  # a shared prefix longer than a KV block: later requests hit the cache
    prompts = [f"{shared} {words(20, seed)}" for seed in range(8)]
    done = await complete_all(real_vllm.url, prompts, max_tokens=24, concurrency=4)
    after = parse_vllm_metrics(await _real_page(real_vllm), replica="r", at=before_at + timedelta(seconds=60))
    stats = window_stats(before, after, customer_id="c", workload_id="w")

    assert stats.model_name == SERVED_NAME
    assert not stats.counter_reset
    assert stats.requests == len(done)
    assert stats.request_rate == pytest.approx(len(done) / 60)
    assert stats.prompt_tokens == sum(c.prompt_tokens for c in done)
    assert stats.generation_tokens == sum(c.completion_tokens for c in done) == 24 * len(done)
    assert stats.errors == 0 and stats.aborts == 0
    # vLLM caches whole blocks of the shared prefix: every request after the first finds most of its
    # prompt there.
    assert stats.prefix_queries == stats.prompt_tokens
    assert stats.prefix_hit_rate is not None and stats.prefix_hit_rate > 0.5
    assert stats.running == 0 and stats.waiting == 0
    assert 0.0 <= stats.kv_usage <= 1.0

    # Latencies: the server stamps them a little inside what the client sees, and the window reads
    # quantiles off vLLM's own bucket edges, so each is checked against the bucket the client's falls in.
    client_ttft = sorted(c.ttft_s for c in done)
    assert stats.ttft_mean is not None and 0 < stats.ttft_mean <= fmean(client_ttft) * 1.05
    assert stats.ttft_p95 is not None and stats.ttft_p50 is not None
    assert 0 < stats.ttft_p50 <= stats.ttft_p95 <= _upper_edge(client_ttft[-1], names.TTFT_BUCKETS)
    # The API server streams what the engine process hands it, a few tokens at a time, so the gaps the
    # client sees are bunched; the server's own account must add up instead: TTFT plus the gaps is e2e,
    # and none of it exceeds what the client waited.
    assert stats.itl_mean is not None and stats.e2e_mean is not None
    assert stats.ttft_mean + 23 * stats.itl_mean == pytest.approx(stats.e2e_mean, rel=0.15)
    assert stats.e2e_mean <= fmean([c.e2e_s for c in done]) * 1.05
    assert stats.prompt_len_p95 is not None
    longest = max(c.prompt_tokens for c in done)
    assert stats.prompt_len_p95 <= _upper_edge(longest, names.build_1_2_5_buckets(DEFAULT_MAX_MODEL_LEN))
    itl = after.histograms[names.INTER_TOKEN_LATENCY]
    assert itl.count - before.histograms[names.INTER_TOKEN_LATENCY].count == 23 * len(done)
    assert histogram_quantile(0.5, itl.bounds, itl.cumulative) > 0


def _bucket_of(value: float, bounds: tuple[float, ...]) -> int:
    return next((index for index, bound in enumerate(bounds) if value <= bound), len(bounds))


def _upper_edge(value: float, bounds: tuple[float, ...]) -> float:
    index = _bucket_of(value, bounds)
    return bounds[index] if index < len(bounds) else float("inf")
