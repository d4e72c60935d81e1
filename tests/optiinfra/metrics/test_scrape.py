"""Scraping reads live replicas over HTTP, accepts old vLLM names, and refuses what it cannot trust."""

from datetime import UTC, datetime

import httpx
import pytest

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import MetricsParseError, ScrapeError, parse_vllm_metrics, scrape_vllm
from optiinfra.sim.vllm_emulator import ReplicaMetricsState, VllmEmulatorServer

MODEL = "Qwen/Qwen2.5-7B-Instruct"
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _replica() -> ReplicaMetricsState:
    state = ReplicaMetricsState(MODEL)
    state.set_gauges(running=4, waiting=2, kv_cache_usage=0.5)
    state.record_preemptions(3)
    state.observe_request(
        queue_s=0.1,
        ttft_s=0.2,
        e2e_s=2.2,
        prompt_tokens=50,
        output_tokens=21,
        prefix_queries=50,
        prefix_hits=20,
    )
    state.observe_request(
        queue_s=0.1, ttft_s=0.2, e2e_s=0.3, prompt_tokens=5, output_tokens=1, finished_reason="abort"
    )
    return state


async def test_a_live_replica_is_scraped_over_http(
    emulator: VllmEmulatorServer, http_client: httpx.AsyncClient
) -> None:
    emulator.add_replica("r-1", _replica())
    sample = await scrape_vllm(emulator.metrics_url("r-1"), http_client, replica="r-1")
    assert sample.replica == "r-1"
    assert sample.model_name == MODEL
    assert sample.gauges == {
        names.NUM_REQUESTS_RUNNING: 4.0,
        names.NUM_REQUESTS_WAITING: 2.0,
        names.KV_CACHE_USAGE_PERC: 0.5,
    }
    assert sample.counters[names.PROMPT_TOKENS] == 55
    assert sample.counters[names.GENERATION_TOKENS] == 22
    assert sample.counters[names.NUM_PREEMPTIONS] == 3
    assert sample.counters[names.PREFIX_CACHE_HITS] == 20
    assert sample.counters[names.REQUEST_SUCCESS] == 2
    assert sample.finished_by_reason["stop"] == 1
    assert sample.finished_by_reason["abort"] == 1
    ttft = sample.histograms[names.TIME_TO_FIRST_TOKEN]
    assert ttft.bounds == names.TTFT_BUCKETS
    assert ttft.count == 2
    assert ttft.sum == pytest.approx(0.4)
    assert sample.histograms[names.INTER_TOKEN_LATENCY].count == 20
    assert sample.started_at is not None
    assert sample.legacy_names == ()


async def test_many_replicas_are_scraped_on_their_own_ports(
    emulator: VllmEmulatorServer, http_client: httpx.AsyncClient
) -> None:
    for index in range(5):
        state = ReplicaMetricsState(MODEL)
        state.set_gauges(running=index)
        emulator.add_replica(f"r-{index}", state)
    for index in range(5):
        sample = await scrape_vllm(emulator.metrics_url(f"r-{index}"), http_client)
        assert sample.gauges[names.NUM_REQUESTS_RUNNING] == index
        assert sample.replica == emulator.url(f"r-{index}").removeprefix("http://")


async def test_old_names_are_read_as_the_current_ones(
    emulator: VllmEmulatorServer, http_client: httpx.AsyncClient
) -> None:
    state = _replica()
    emulator.add_replica("new", state)
    emulator.add_replica("old", state, legacy_names=True)
    current = await scrape_vllm(emulator.metrics_url("new"), http_client, replica="x")
    legacy = await scrape_vllm(emulator.metrics_url("old"), http_client, replica="x")
    assert legacy.counters == current.counters
    assert legacy.gauges == current.gauges
    assert legacy.histograms == current.histograms
    assert set(legacy.legacy_names) == set(names.LEGACY_ALIASES)


def test_a_current_name_wins_over_its_old_name_when_both_are_exposed() -> None:
    text = """# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.9
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.3
"""
    sample = parse_vllm_metrics(text, replica="r", at=AT)
    assert sample.gauges == {names.KV_CACHE_USAGE_PERC: 0.3}
    assert sample.legacy_names == ()


def test_engines_behind_one_endpoint_are_added_up_and_kv_usage_averaged() -> None:
    text = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 3
vllm:num_requests_running{model_name="m",engine="1"} 5
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.2
vllm:kv_cache_usage_perc{model_name="m",engine="1"} 0.6
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{model_name="m",engine="0"} 100
vllm:prompt_tokens_total{model_name="m",engine="1"} 50
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{model_name="m",engine="0",le="1.0"} 1
vllm:e2e_request_latency_seconds_bucket{model_name="m",engine="0",le="+Inf"} 2
vllm:e2e_request_latency_seconds_count{model_name="m",engine="0"} 2
vllm:e2e_request_latency_seconds_sum{model_name="m",engine="0"} 3.5
vllm:e2e_request_latency_seconds_bucket{model_name="m",engine="1",le="1.0"} 4
vllm:e2e_request_latency_seconds_bucket{model_name="m",engine="1",le="+Inf"} 4
vllm:e2e_request_latency_seconds_count{model_name="m",engine="1"} 4
vllm:e2e_request_latency_seconds_sum{model_name="m",engine="1"} 2.0
"""
    sample = parse_vllm_metrics(text, replica="r", at=AT)
    assert sample.gauges[names.NUM_REQUESTS_RUNNING] == 8
    assert sample.gauges[names.KV_CACHE_USAGE_PERC] == pytest.approx(0.4)
    assert sample.counters[names.PROMPT_TOKENS] == 150
    e2e = sample.histograms[names.E2E_REQUEST_LATENCY]
    assert (e2e.bounds, e2e.cumulative, e2e.sum) == ((1.0,), (5.0, 6.0), 5.5)


def test_untyped_text_and_unrelated_families_are_handled() -> None:
    text = """process_cpu_seconds_total 12.5
python_gc_objects_collected_total{generation="0"} 10
vllm:prompt_tokens_total{model_name="m"} 7
vllm:num_requests_waiting{model_name="m"} 1
"""
    sample = parse_vllm_metrics(text, replica="r", at=AT)
    assert sample.counters == {names.PROMPT_TOKENS: 7.0}
    assert sample.gauges == {names.NUM_REQUESTS_WAITING: 1.0}
    assert sample.started_at is None


GOOD_HISTOGRAM = """# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{model_name="m",le="0.1"} 1
vllm:time_to_first_token_seconds_bucket{model_name="m",le="+Inf"} 2
vllm:time_to_first_token_seconds_count{model_name="m"} 2
vllm:time_to_first_token_seconds_sum{model_name="m"} 0.5
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('vllm:num_requests_running{model_name="m" 3\n', "not Prometheus text"),
        ('vllm:num_requests_running{model_name="m"} three\n', "not Prometheus text"),
        ("<html><body>502 Bad Gateway</body></html>\n", "not Prometheus text"),
        ("", "no vLLM metrics"),
        ("process_cpu_seconds_total 1\n", "no vLLM metrics"),
        (GOOD_HISTOGRAM.replace('le="+Inf"', 'le="1.0"'), "no \\+Inf bucket"),
        (GOOD_HISTOGRAM.replace('le="0.1"} 1', 'le="0.1"} 5'), "fall as the bound rises"),
        (GOOD_HISTOGRAM.replace('count{model_name="m"} 2', 'count{model_name="m"} 3'), "differs"),
        (GOOD_HISTOGRAM.replace('le="0.1"', 'le="soon"'), "numeric le"),
        ('vllm:prompt_tokens_total{model_name="m"} -4\n', "negative"),
        ('vllm:prompt_tokens_total{model_name="m"} NaN\n', "non-finite"),
        (
            'vllm:num_requests_running{model_name="a"} 1\nvllm:num_requests_waiting{model_name="b"} 1\n',
            "models",
        ),
    ],
)
def test_untrustworthy_pages_raise_metrics_parse_error(text: str, reason: str) -> None:
    with pytest.raises(MetricsParseError, match=reason):
        parse_vllm_metrics(text, replica="r", at=AT)


def test_a_well_formed_histogram_parses() -> None:
    histogram = parse_vllm_metrics(GOOD_HISTOGRAM, replica="r", at=AT).histograms[names.TIME_TO_FIRST_TOKEN]
    assert (histogram.bounds, histogram.cumulative) == ((0.1,), (1.0, 2.0))


async def test_http_failures_raise_scrape_error(
    emulator: VllmEmulatorServer, http_client: httpx.AsyncClient
) -> None:
    url = emulator.add_replica("r", _replica())
    with pytest.raises(ScrapeError, match="HTTP 404"):
        await scrape_vllm(f"{url}/not-metrics", http_client)
    emulator.remove_replica("r")
    with pytest.raises(ScrapeError, match="failed") as caught:
        await scrape_vllm(f"{url}/metrics", http_client)
    assert not isinstance(caught.value, MetricsParseError)


def test_the_kv_cache_size_is_read_from_the_engines_cache_settings() -> None:
    state = _replica()
    assert parse_vllm_metrics(state.render().decode(), replica="r", at=AT).kv_cache_tokens is None
    state.set_cache_config(block_size=16, num_gpu_blocks=2_000)
    page = state.render().decode()
    assert 'kv_cache_size_tokens="32000"' in page
    sample = parse_vllm_metrics(page, replica="r", at=AT)
    assert sample.kv_cache_tokens == 32_000 == state.sample(replica="r", at=AT).kv_cache_tokens
    # Versions without kv_cache_size_tokens give the blocks and their size; two engines add up.
    older = (
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{engine="0",model_name="m"} 0\n'
        "# TYPE vllm:cache_config_info gauge\n"
        'vllm:cache_config_info{block_size="16",engine="0",num_gpu_blocks="100",'
        'kv_cache_size_tokens="None"} 1\n'
        'vllm:cache_config_info{block_size="16",engine="1",num_gpu_blocks="50"} 1\n'
    )
    assert parse_vllm_metrics(older, replica="r", at=AT).kv_cache_tokens == 2_400
    unsized = older.replace('num_gpu_blocks="100"', 'num_gpu_blocks="None"').replace(
        'num_gpu_blocks="50"', ""
    )
    assert parse_vllm_metrics(unsized, replica="r", at=AT).kv_cache_tokens is None
