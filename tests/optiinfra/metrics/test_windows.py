"""Window statistics: rates from counters, PromQL-style quantiles that land in the true value's bucket,
and counter resets read the way Prometheus reads them."""

import bisect
import math
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import VllmSample, parse_vllm_metrics, scrape_vllm
from optiinfra.metrics.windows import histogram_quantile, window_stats
from optiinfra.sim.vllm_emulator import ReplicaMetricsState, VllmEmulatorServer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _exact_quantile(values: list[float], q: float) -> float:
    """Nearest rank: the ceil(q*n)-th smallest value, the observation histogram_quantile looks for."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def _assert_same_bucket(estimate: float, truth: float, bounds: tuple[float, ...]) -> None:
    """The estimate lies in the bucket (lower, upper] that holds the true value."""
    index = bisect.bisect_left(bounds, truth)
    upper = bounds[index]
    lower = bounds[index - 1] if index else 0.0
    assert lower <= estimate <= upper, f"estimate {estimate} outside ({lower}, {upper}] holding {truth}"


def _with_at(sample: VllmSample, at: datetime) -> VllmSample:
    return sample.model_copy(update={"at": at})


async def test_scraped_quantiles_fall_in_the_bucket_of_the_exact_quantile(
    emulator: VllmEmulatorServer, http_client: httpx.AsyncClient
) -> None:
    rng = random.Random(20260301)
    state = ReplicaMetricsState("m")
    url = emulator.add_replica("r", state) + "/metrics"
    for _ in range(50):  # traffic before the window must not leak into it
        state.observe_request(queue_s=30.0, ttft_s=30.0, e2e_s=100.0, prompt_tokens=1, output_tokens=3)
    before = await scrape_vllm(url, http_client, replica="r")

    observed: dict[str, list[float]] = {"queue": [], "ttft": [], "itl": [], "e2e": []}
    for _ in range(1500):
        queue = rng.expovariate(1 / 0.4)
        ttft = queue + rng.lognormvariate(math.log(0.15), 0.8)
        gaps = [rng.lognormvariate(math.log(0.03), 0.5) for _ in range(rng.randint(1, 40))]
        e2e = ttft + sum(gaps)
        state.observe_request(
            queue_s=queue, ttft_s=ttft, e2e_s=e2e, prompt_tokens=200, output_tokens=len(gaps) + 1, itl_s=gaps
        )
        observed["queue"].append(queue)
        observed["ttft"].append(ttft)
        observed["itl"].extend(gaps)
        observed["e2e"].append(e2e)
    after = await scrape_vllm(url, http_client, replica="r")

    stats = window_stats(
        before, _with_at(after, before.at + timedelta(seconds=60)), customer_id="c", workload_id="w"
    )
    assert stats.requests == 1500
    assert stats.request_rate == pytest.approx(25.0)
    assert stats.ttft_mean == pytest.approx(sum(observed["ttft"]) / 1500)
    assert stats.itl_mean == pytest.approx(sum(observed["itl"]) / len(observed["itl"]))
    bounds = {
        "ttft": names.TTFT_BUCKETS,
        "itl": names.ITL_BUCKETS,
        "e2e": names.REQUEST_LATENCY_BUCKETS,
        "queue": names.REQUEST_LATENCY_BUCKETS,
    }
    checked = 0
    for prefix, values in observed.items():
        for q in (0.5, 0.9, 0.95, 0.99):
            estimate = getattr(stats, f"{prefix}_p{round(q * 100)}", None)
            if estimate is None:  # e2e and queue keep p50/p95/p99 only
                continue
            _assert_same_bucket(estimate, _exact_quantile(values, q), bounds[prefix])
            checked += 1
    assert checked == 14


def _sample(at: datetime, state: ReplicaMetricsState, *, legacy: bool = False) -> VllmSample:
    return parse_vllm_metrics(state.render(legacy_names=legacy).decode(), replica="r", at=at)


def _traffic(state: ReplicaMetricsState, requests: int, *, reason: str = "stop") -> None:
    for _ in range(requests):
        state.observe_request(
            queue_s=0.01,
            ttft_s=0.1,
            e2e_s=1.0,
            prompt_tokens=100,
            output_tokens=10,
            prefix_queries=100,
            prefix_hits=25,
            finished_reason=reason,  # type: ignore[arg-type]
        )


def test_counters_become_per_second_rates_and_gauges_are_read_at_the_end() -> None:
    state = ReplicaMetricsState("m")
    first = _sample(T0, state)
    _traffic(state, 18)
    _traffic(state, 2, reason="error")
    state.record_preemptions(4)
    state.set_gauges(running=7, waiting=3, kv_cache_usage=0.8)
    stats = window_stats(first, _sample(T0 + timedelta(seconds=10), state), customer_id="c", workload_id="w")
    assert (stats.window_start, stats.window_end, stats.window_seconds) == (
        T0,
        T0 + timedelta(seconds=10),
        10,
    )
    assert stats.request_rate == 2.0
    assert stats.prompt_tps == 200.0
    assert stats.generation_tps == 20.0
    assert stats.preemption_rate == 0.4
    assert stats.prefix_hit_rate == 0.25
    assert stats.error_rate == 0.1
    assert (stats.running, stats.waiting, stats.kv_usage) == (7, 3, 0.8)
    assert stats.model_name == "m"
    assert not stats.counter_reset


def test_an_idle_window_has_zero_rates_and_no_quantiles() -> None:
    state = ReplicaMetricsState("m")
    stats = window_stats(
        _sample(T0, state), _sample(T0 + timedelta(seconds=5), state), customer_id="c", workload_id="w"
    )
    assert stats.request_rate == 0
    assert stats.ttft_p95 is None
    assert stats.ttft_mean is None
    assert stats.prefix_hit_rate is None
    assert stats.error_rate is None


def test_a_restart_counts_only_what_the_new_process_did() -> None:
    clock = iter([1000.0, 2000.0])
    state = ReplicaMetricsState("m", clock=lambda: next(clock))
    _traffic(state, 500)
    before = _sample(T0, state)
    state.restart()
    _traffic(state, 600)  # more than before: only the changed start time reveals the restart
    stats = window_stats(before, _sample(T0 + timedelta(seconds=60), state), customer_id="c", workload_id="w")
    assert stats.counter_reset
    assert stats.requests == 600
    assert stats.request_rate == 10.0
    assert stats.ttft_p50 is not None


def test_a_counter_that_went_down_is_a_reset_even_without_start_times() -> None:
    state = ReplicaMetricsState("m")
    _traffic(state, 30)
    before = _sample(T0, state, legacy=True).model_copy(update={"started_at": None})
    state.restart()
    _traffic(state, 12)
    after = _sample(T0 + timedelta(seconds=4), state, legacy=True).model_copy(update={"started_at": None})
    stats = window_stats(before, after, customer_id="c", workload_id="w")
    assert stats.counter_reset
    assert stats.requests == 12
    assert stats.prompt_tokens == 1200
    assert stats.ttft_mean == pytest.approx(0.1)


def test_samples_out_of_order_or_of_different_replicas_are_refused() -> None:
    state = ReplicaMetricsState("m")
    sample = _sample(T0, state)
    with pytest.raises(ValueError, match="after"):
        window_stats(sample, sample, customer_id="c", workload_id="w")
    other = sample.model_copy(update={"replica": "other", "at": T0 + timedelta(seconds=1)})
    with pytest.raises(ValueError, match="different replicas"):
        window_stats(sample, other, customer_id="c", workload_id="w")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 1.75),  # rank 5 of 10 in (1, 2], which holds ranks 2..6: 1 + (5 - 2) / 4
        (0.2, 1.0),  # rank 2: the end of the first bucket
        (0.1, 0.5),  # rank 1 inside (0, 1]: the first bucket starts at 0
        (0.95, 2.0),  # rank 9.5 falls in +Inf: the highest finite bound
        (0.0, 0.0),
    ],
)
def test_histogram_quantile_follows_promql(q: float, expected: float) -> None:
    assert histogram_quantile(q, (1.0, 2.0), (2.0, 6.0, 10.0)) == pytest.approx(expected)


def test_histogram_quantile_of_an_empty_histogram_is_nan_and_bad_input_is_refused() -> None:
    assert math.isnan(histogram_quantile(0.5, (1.0,), (0.0, 0.0)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        histogram_quantile(1.5, (1.0,), (1.0, 1.0))
    with pytest.raises(ValueError, match="one entry per bound"):
        histogram_quantile(0.5, (1.0,), (1.0,))
