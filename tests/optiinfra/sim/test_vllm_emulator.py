"""The emulator writes what vLLM writes (names, types, labels, buckets) and serves it over real HTTP."""

import math
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import parse_vllm_metrics
from optiinfra.sim.vllm_emulator import HistogramState, ReplicaMetricsState, VllmEmulatorServer

MODEL = "meta-llama/Llama-3.1-8B-Instruct"

EXPECTED_TYPES = {
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:kv_cache_usage_perc": "gauge",
    "vllm:num_preemptions": "counter",
    "vllm:prompt_tokens": "counter",
    "vllm:generation_tokens": "counter",
    "vllm:prefix_cache_queries": "counter",
    "vllm:prefix_cache_hits": "counter",
    "vllm:request_success": "counter",
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:request_queue_time_seconds": "histogram",
    "vllm:request_prompt_tokens": "histogram",
    "vllm:request_generation_tokens": "histogram",
    "vllm:prompt_tokens_by_source": "counter",
    "vllm:prompt_tokens_cached": "counter",
    "vllm:prompt_tokens_cached_by_source": "counter",
    "vllm:external_prefix_cache_queries": "counter",
    "vllm:external_prefix_cache_hits": "counter",
    "vllm:num_requests_waiting_by_reason": "gauge",
}


def _families(body: bytes) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    return {
        family.name: (family.type, [(s.name, dict(s.labels), s.value) for s in family.samples])
        for family in text_string_to_metric_families(body.decode())
    }


def _busy_replica() -> ReplicaMetricsState:
    state = ReplicaMetricsState(MODEL, max_model_len=4096)
    state.set_gauges(running=3, waiting=1, kv_cache_usage=0.25)
    state.record_preemptions(2)
    state.observe_request(
        queue_s=0.2,
        ttft_s=0.3,
        e2e_s=1.3,
        prompt_tokens=100,
        output_tokens=11,
        prefix_queries=100,
        prefix_hits=64,
    )
    state.observe_request(
        queue_s=0.0, ttft_s=0.05, e2e_s=0.5, prompt_tokens=10, output_tokens=4, itl_s=[0.1, 0.15, 0.2]
    )
    state.observe_request(
        queue_s=1.0, ttft_s=1.2, e2e_s=9.0, prompt_tokens=3000, output_tokens=1, finished_reason="error"
    )
    return state


def test_the_page_has_vllms_current_names_types_and_labels() -> None:
    families = _families(_busy_replica().render())
    typed = {name: kind for name, (kind, _) in families.items() if not name.endswith("_created")}
    assert typed == EXPECTED_TYPES
    for name, (_, samples) in families.items():
        for sample_name, labels, _ in samples:
            expected = {"model_name", "engine"}
            if name.startswith("vllm:request_success"):
                expected.add("finished_reason")
            if "_by_source" in name:
                expected.add("source")
            if "_by_reason" in name:
                expected.add("reason")
            if sample_name.endswith("_bucket"):
                expected.add("le")
            assert set(labels) == expected, sample_name
            assert labels["model_name"] == MODEL
            assert labels["engine"] == "0"
    reasons = {labels["finished_reason"] for _, labels, _ in families["vllm:request_success"][1]}
    assert reasons == {"stop", "length", "abort", "error", "repetition"}


def test_the_breakdowns_split_the_totals_as_vllm_does() -> None:
    families = _families(_busy_replica().render())

    def values(name: str, label: str) -> dict[str, float]:
        return {
            labels[label]: value for sample, labels, value in families[name][1] if sample.endswith("_total")
        }

    by_source = values("vllm:prompt_tokens_by_source", "source")
    assert by_source == {"local_compute": 3110.0 - 64.0, "local_cache_hit": 64.0, "external_kv_transfer": 0.0}
    cached = values("vllm:prompt_tokens_cached_by_source", "source")
    assert cached == {"device": 64.0, "host": 0.0, "p2p": 0.0, "disk": 0.0, "external_unspecified": 0.0}
    waiting = {
        labels["reason"]: value for _, labels, value in families["vllm:num_requests_waiting_by_reason"][1]
    }
    assert waiting == {"capacity": 1.0, "deferred": 0.0}


def test_counters_are_exposed_with_total_and_the_values_are_the_recorded_ones() -> None:
    body = _busy_replica().render().decode()
    assert 'vllm:prompt_tokens_total{engine="0",model_name="' + MODEL + '"} 3110.0' in body
    assert 'vllm:generation_tokens_total{engine="0",model_name="' + MODEL + '"} 16.0' in body
    assert 'vllm:num_preemptions_total{engine="0",model_name="' + MODEL + '"} 2.0' in body
    assert 'vllm:prefix_cache_hits_total{engine="0",model_name="' + MODEL + '"} 64.0' in body
    assert (
        'vllm:request_success_total{engine="0",finished_reason="error",model_name="' + MODEL + '"} 1.0'
        in body
    )
    assert 'vllm:kv_cache_usage_perc{engine="0",model_name="' + MODEL + '"} 0.25' in body


@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        ("vllm:time_to_first_token_seconds", names.TTFT_BUCKETS),
        ("vllm:inter_token_latency_seconds", names.ITL_BUCKETS),
        ("vllm:e2e_request_latency_seconds", names.REQUEST_LATENCY_BUCKETS),
        ("vllm:request_queue_time_seconds", names.REQUEST_LATENCY_BUCKETS),
        ("vllm:request_prompt_tokens", (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)),
    ],
)
def test_histograms_have_vllms_bucket_boundaries(name: str, bounds: tuple[float, ...]) -> None:
    _, samples = _families(_busy_replica().render())[name]
    les = [float(labels["le"]) for sample_name, labels, _ in samples if sample_name.endswith("_bucket")]
    assert les == [*map(float, bounds), math.inf]


def test_inter_token_latency_gets_one_observation_per_gap() -> None:
    _, samples = _families(_busy_replica().render())["vllm:inter_token_latency_seconds"]
    count = next(value for sample_name, _, value in samples if sample_name.endswith("_count"))
    total = next(value for sample_name, _, value in samples if sample_name.endswith("_sum"))
    # 10 gaps of mean (1.3 - 0.3) / 10 = 0.1, then the three listed gaps; a one-token request has none.
    assert count == 13
    assert total == pytest.approx(1.0 + 0.45)


def test_legacy_rendering_uses_the_old_names_and_the_v0_label_set() -> None:
    families = _families(_busy_replica().render(legacy_names=True))
    for old, new in names.LEGACY_ALIASES.items():
        assert old in families
        assert new not in families
    assert "vllm:num_requests_swapped" in families
    for _, samples in families.values():
        for _, labels, _ in samples:
            assert "engine" not in labels


def test_restart_starts_the_counters_again() -> None:
    state = _busy_replica()
    before = state.snapshot()
    state.restart()
    after = state.snapshot()
    assert after.counters[names.PROMPT_TOKENS] == 0
    assert after.histograms[names.TIME_TO_FIRST_TOKEN].count == 0
    assert after.started_at >= before.started_at


def test_histogram_buckets_are_inclusive_of_their_upper_bound() -> None:
    histogram = HistogramState((0.1, 0.5))
    for value in (0.1, 0.10001, 0.5, 7.0):
        histogram.observe(value)
    assert histogram.cumulative_buckets() == [("0.1", 1.0), ("0.5", 3.0), ("+Inf", 4.0)]


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt_tokens": -1},
        {"prefix_queries": 1, "prefix_hits": 2},
        {"ttft_s": math.nan},
        {"e2e_s": -0.1},
        {"itl_s": [0.1, -0.2]},
        {"finished_reason": "timeout"},
    ],
)
def test_impossible_requests_are_refused(bad: dict[str, object]) -> None:
    request: dict[str, object] = {
        "queue_s": 0.0,
        "ttft_s": 0.1,
        "e2e_s": 1.0,
        "prompt_tokens": 1,
        "output_tokens": 2,
    }
    state = ReplicaMetricsState(MODEL)
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        state.observe_request(**{**request, **bad})  # type: ignore[arg-type]
    untouched = state.snapshot()
    assert all(histogram.count == 0 for histogram in untouched.histograms.values())
    assert not any(untouched.counters.values())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_server_gives_each_replica_its_own_port_and_stops_cleanly() -> None:
    first, second = _busy_replica(), ReplicaMetricsState("other-model")
    with VllmEmulatorServer() as server:
        first_url = server.add_replica("replica-a", first)
        second_url = server.add_replica("replica-b", second, legacy_names=True)
        assert first_url != second_url
        assert first_url.startswith("http://127.0.0.1:")

        status, body = _get(server.metrics_url("replica-a"))
        assert status == 200
        assert b"vllm:kv_cache_usage_perc" in body
        assert b'model_name="other-model"' in _get(server.metrics_url("replica-b"))[1]
        assert b"vllm:gpu_cache_usage_perc" in _get(server.metrics_url("replica-b"))[1]
        assert _get(f"{first_url}/health") == (200, b"")
        server.set_healthy("replica-a", False)
        assert _get(f"{first_url}/health")[0] == 503
        assert _get(f"{first_url}/nothing")[0] == 404

        server.remove_replica("replica-b")
        assert set(server.urls) == {"replica-a"}
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{second_url}/metrics", timeout=2)
        with pytest.raises(ValueError, match="already served"):
            server.add_replica("replica-a", first)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{first_url}/metrics", timeout=2)
    server.stop()  # stopping twice is harmless


def test_a_sample_taken_from_the_state_equals_the_parsed_page() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    fresh = ReplicaMetricsState(MODEL)
    assert fresh.sample(replica="r", at=at) == parse_vllm_metrics(fresh.render().decode(), replica="r", at=at)
    state = _busy_replica()
    sampled = state.sample(replica="r", at=at)
    assert sampled == parse_vllm_metrics(state.render().decode(), replica="r", at=at)
    assert sampled.counters[names.REQUEST_SUCCESS] > 0
    assert sampled.histograms[names.TIME_TO_FIRST_TOKEN].count > 0


def test_inter_token_gaps_can_be_given_as_runs() -> None:
    state = ReplicaMetricsState(MODEL)
    state.observe_request(
        queue_s=0.0,
        ttft_s=0.1,
        e2e_s=2.0,
        prompt_tokens=50,
        output_tokens=41,
        itl_runs=[(0.02, 38), (0.3, 2)],
    )
    itl = state.snapshot().histograms[names.INTER_TOKEN_LATENCY]
    assert itl.count == 40
    assert itl.total == pytest.approx(38 * 0.02 + 2 * 0.3)
    with pytest.raises(ValueError, match="either"):
        state.observe_request(
            queue_s=0.0, ttft_s=0.1, e2e_s=1.0, prompt_tokens=5, output_tokens=3, itl_s=0.1, itl_runs=[]
        )
    with pytest.raises(ValueError, match="negative"):
        state.observe_request(
            queue_s=0.0, ttft_s=0.1, e2e_s=1.0, prompt_tokens=5, output_tokens=3, itl_runs=[(0.1, -2)]
        )
