import math
import random
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import pytest

from optiinfra.capacity import ReplicaLoad, max_throughput_rps, model_spec
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import parse_vllm_metrics
from optiinfra.metrics.windows import WindowStats, histogram_quantile, window_stats
from optiinfra.sim.traffic import TokenLengthMix, default_generator
from optiinfra.sim.twin.replica import (
    Z_95,
    ReplicaTwin,
    ReplicaWindow,
    binomial_count,
    stochastic_round,
)
from optiinfra.sim.vllm_emulator import ReplicaMetricsState

CATALOG = PriceCatalog.load_default()
MIX = default_generator().token_mix
WINDOW_S = 300.0
AT = datetime(2025, 6, 2, tzinfo=UTC)


def _twin(instance_type: str, model_name: str) -> ReplicaTwin:
    state = ReplicaMetricsState(model_name)
    return ReplicaTwin(
        "r-0", "i-0", CATALOG.get(instance_type, "us-east-1"), capacity_model_for(model_name), state
    )


def _load(twin: ReplicaTwin, share_of_capacity: float, mix: TokenLengthMix = MIX) -> ReplicaLoad:
    capacity = max_throughput_rps(twin.config, mix.mean_prompt_tokens, mix.mean_output_tokens)
    return ReplicaLoad(capacity * share_of_capacity, mix.mean_prompt_tokens, mix.mean_output_tokens, 7009.0)


def _replay(
    twin: ReplicaTwin, load: ReplicaLoad, windows: int, sample: int = 200
) -> tuple[ReplicaWindow, WindowStats]:
    """Simulate `windows` windows and read them back the way the pipeline does: render, parse, difference."""
    before = parse_vllm_metrics(twin.metrics.render().decode(), replica="r-0", at=AT)
    rng = random.Random(5)
    window = None
    for _ in range(windows):
        window = twin.simulate_window(load, WINDOW_S, rng, sample, token_mix=MIX, prefix_hit_rate=0.3)
    assert window is not None
    after_at = AT + timedelta(seconds=windows * WINDOW_S)
    after = parse_vllm_metrics(twin.metrics.render().decode(), replica="r-0", at=after_at)
    return window, window_stats(before, after, customer_id="c", workload_id="w")


def _as_prometheus_reads_it(q: float, p50: float, p95: float) -> float:
    """The quantile histogram_quantile gives for the exact lognormal of (p50, p95) in vLLM's TTFT buckets:
    what the scraped figure converges to, bucket interpolation included."""
    shape = NormalDist(math.log(p50), math.log(p95 / p50) / Z_95)
    cumulative = [shape.cdf(math.log(bound)) for bound in names.TTFT_BUCKETS] + [1.0]
    return histogram_quantile(q, names.TTFT_BUCKETS, cumulative)


@pytest.mark.parametrize("share", [0.3, 0.6, 0.85])
def test_scraping_the_fed_emulator_gives_the_modelled_latencies(share: float) -> None:
    twin = _twin("g6.xlarge", "intfloat/e5-mistral-7b-instruct")
    window, stats = _replay(twin, _load(twin, share), windows=10)
    modelled = window.performance
    assert not modelled.saturated
    for q, scraped in ((0.5, stats.ttft_p50), (0.95, stats.ttft_p95)):
        assert scraped == pytest.approx(
            _as_prometheus_reads_it(q, modelled.ttft_p50_s, modelled.ttft_p95_s), rel=0.1
        )
    assert stats.ttft_p50 == pytest.approx(modelled.ttft_p50_s, rel=0.15)
    assert stats.ttft_p95 == pytest.approx(modelled.ttft_p95_s, rel=0.25)  # bucket (2.5, 5] or (5, 7.5]
    # Each gap is a pure decode step or, for the modelled share of steps, one that carries a prompt chunk.
    assert stats.itl_mean == pytest.approx(modelled.itl_s, rel=0.1)
    assert stats.itl_p50 == pytest.approx(modelled.itl_p50_s, rel=0.25)  # a bucket of (0.05, 0.1]
    assert stats.itl_p95 is not None and modelled.itl is not None
    if modelled.itl.mixed_share > 0.08:  # clear of the 5% edge, the p95 gap is a chunk-carrying step
        assert stats.itl_p95 >= 0.8 * modelled.itl.mixed_step_s


def test_counters_count_every_request_of_the_window_not_just_the_sample() -> None:
    twin = _twin("g6.xlarge", "intfloat/e5-mistral-7b-instruct")
    load = _load(twin, 0.6)
    window, stats = _replay(twin, load, windows=4, sample=20)
    expected = load.arrival_rps * 4 * WINDOW_S
    assert stats.requests == pytest.approx(expected, abs=4)
    assert stats.prompt_tokens == pytest.approx(expected * MIX.mean_prompt_tokens, rel=0.1)
    assert stats.generation_tokens == pytest.approx(expected * MIX.mean_output_tokens, rel=0.2)
    assert stats.prefix_hit_rate == pytest.approx(0.3, abs=0.01)
    assert stats.kv_usage == pytest.approx(window.performance.kv_usage)
    assert stats.running == round(window.performance.running)
    snapshot = twin.metrics.snapshot()
    assert snapshot.histograms[names.TIME_TO_FIRST_TOKEN].count == 4 * 20


def test_utilization_follows_the_model_and_the_host_model() -> None:
    twin = _twin("g5.8xlarge", "meta-llama/Llama-3.1-8B-Instruct")
    window = twin.simulate_window(_load(twin, 0.6), WINDOW_S, random.Random(1), 10)
    host = window.utilization
    assert host.gpu_utilization == pytest.approx(60.0)
    weights_gib = model_spec("Llama-3.1-8B").weight_bytes / 1024**3
    assert weights_gib < host.gpu_memory_used_gib < weights_gib + 2.0
    assert host.gpu_memory_total_gib == pytest.approx(23028 / 1024)
    assert host.cpu_utilization < 12  # 1-2 busy cores of 32
    assert host.memory_utilization < 12  # a few GiB of 128
    small = _twin("g5.xlarge", "meta-llama/Llama-3.1-8B-Instruct")
    small_host = small.simulate_window(_load(small, 0.6), WINDOW_S, random.Random(1), 10).utilization
    assert small_host.gpu_utilization == pytest.approx(host.gpu_utilization)
    assert small_host.cpu_utilization == pytest.approx(host.cpu_utilization * 8)  # 4 vCPUs instead of 32


def test_a_saturated_replica_records_the_largest_buckets_and_misses_its_slo() -> None:
    twin = _twin("g5.xlarge", "Qwen/Qwen2.5-Coder-7B-Instruct")
    load = _load(twin, 2.0)
    window, stats = _replay(twin, load, windows=1)
    assert window.performance.saturated and not window.performance.oom
    assert not window.meets(ttft_p95_s=1e9, itl_p95_s=1e9)
    assert window.utilization.gpu_utilization == 100.0
    assert window.served_rps == pytest.approx(load.arrival_rps / 2, rel=0.01)
    assert stats.requests == pytest.approx(window.served_rps * WINDOW_S, abs=1)
    assert stats.waiting == pytest.approx(window.waiting, abs=1) and stats.waiting > 0
    assert stats.ttft_p95 is not None and stats.ttft_p95 > names.TTFT_BUCKETS[-2]
    assert stats.kv_usage == 1.0


def test_a_model_that_does_not_fit_fails_every_request_without_crashing() -> None:
    twin = _twin("g5.xlarge", "meta-llama/Llama-3.1-70B-Instruct")
    window, stats = _replay(twin, ReplicaLoad(0.5, 1000, 100), windows=1)
    assert window.performance.oom
    assert window.utilization.gpu_utilization == 0.0
    assert window.utilization.gpu_memory_used_gib == pytest.approx(window.utilization.gpu_memory_total_gib)
    assert stats.error_rate == 1.0
    assert not window.meets(ttft_p95_s=1e9, itl_p95_s=1e9)


def test_an_idle_window_meets_any_slo() -> None:
    twin = _twin("g6.xlarge", "meta-llama/Llama-3.1-8B-Instruct")
    window, stats = _replay(twin, ReplicaLoad(0.0, 1000, 100), windows=1)
    assert window.meets(ttft_p95_s=0.001, itl_p95_s=0.001)
    assert stats.requests == 0 and window.utilization.gpu_utilization == 0.0


def test_demo_model_names_map_to_capacity_models() -> None:
    assert capacity_model_for("meta-llama/Llama-3.1-8B-Instruct").name == "Llama-3.1-8B"
    assert capacity_model_for("Qwen/Qwen2.5-Coder-7B-Instruct").name == "Qwen2.5-7B"
    assert capacity_model_for("intfloat/e5-mistral-7b-instruct").name == "Mistral-7B-v0.3"
    awq = capacity_model_for("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4")
    assert awq.name == "Llama-3.1-70B-AWQ-INT4"
    assert capacity_model_for("Qwen3-8B").name == "Qwen3-8B"
    with pytest.raises(KeyError, match="MODEL_ALIASES"):
        capacity_model_for("acme/unknown-13b")


def test_stochastic_rounding_keeps_the_expectation() -> None:
    rng = random.Random(3)
    draws = [stochastic_round(2.25, rng) for _ in range(4000)]
    assert set(draws) == {2, 3}
    assert sum(draws) / len(draws) == pytest.approx(2.25, abs=0.03)
    assert stochastic_round(0.0, rng) == 0 and stochastic_round(math.inf * 0, rng) == 0


@pytest.mark.parametrize(("trials", "probability"), [(40, 0.03), (1000, 0.7), (5000, 0.002)])
def test_binomial_counts_have_the_binomial_mean_and_variance(trials: int, probability: float) -> None:
    rng = random.Random(11)
    draws = [binomial_count(trials, probability, rng) for _ in range(6000)]
    mean = sum(draws) / len(draws)
    variance = sum((d - mean) ** 2 for d in draws) / (len(draws) - 1)
    assert all(0 <= d <= trials for d in draws)
    assert mean == pytest.approx(trials * probability, rel=0.05)
    assert variance == pytest.approx(trials * probability * (1 - probability), rel=0.1)
    assert binomial_count(0, 0.5, rng) == 0 and binomial_count(9, 0.0, rng) == 0
    assert binomial_count(9, 1.0, rng) == 9


def test_below_the_five_percent_edge_the_p95_gap_is_a_decode_step_in_every_window() -> None:
    """vLLM observes one gap per output token, each step carrying a prompt chunk or not. Drawing one kind
    per request and repeating it for every token made a few long answers decide the p95 window by window."""
    twin = _twin("g6e.xlarge", "meta-llama/Llama-3.1-8B-Instruct")
    capacity = max_throughput_rps(twin.config, MIX.mean_prompt_tokens, MIX.mean_output_tokens)
    load = ReplicaLoad(0.9, MIX.mean_prompt_tokens, MIX.mean_output_tokens, 7009.0)
    assert load.arrival_rps < capacity
    rng = random.Random(2)
    misses = 0
    for index in range(30):
        at = AT + timedelta(seconds=index * WINDOW_S)
        before = parse_vllm_metrics(twin.metrics.render().decode(), replica="r-0", at=at)
        window = twin.simulate_window(load, WINDOW_S, rng, 100, token_mix=MIX)
        after = parse_vllm_metrics(
            twin.metrics.render().decode(), replica="r-0", at=at + timedelta(seconds=WINDOW_S)
        )
        itl = window.performance.itl
        assert itl is not None and 0.01 < itl.mixed_share < 0.04
        stats = window_stats(before, after, customer_id="c", workload_id="w")
        assert stats.itl_p95 is not None
        misses += stats.itl_p95 > itl.mixed_step_s / 2
    assert misses == 0
