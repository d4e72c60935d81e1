"""The queueing model on top of the roofline: latencies under load, saturation, SLO sizing."""

import dataclasses
import math

import pytest

from optiinfra.capacity.gpus import A10G, H100, L4, L40S
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B, LLAMA_3_1_70B_AWQ
from optiinfra.capacity.roofline import (
    API_SERVER_OVERHEAD_S,
    ReplicaLoad,
    ServingConfig,
    max_rps_under_slo,
    max_throughput_rps,
    prefill_seconds,
    replica_performance,
)

PROMPT, OUTPUT = 500, 200
CONFIGS = [
    ServingConfig(A10G, 1, LLAMA_3_1_8B),
    ServingConfig(A10G, 1, LLAMA_3_1_8B, chunked_prefill=False),
    ServingConfig(H100, 1, LLAMA_3_1_8B),
    ServingConfig(H100, 4, LLAMA_3_1_70B),
]
CONFIG_IDS = ["a10g-8b-chunked", "a10g-8b-v0", "h100-8b", "h100x4-70b"]


def at_utilization(config: ServingConfig, utilization: float) -> ReplicaLoad:
    return ReplicaLoad(utilization * max_throughput_rps(config, PROMPT, OUTPUT), PROMPT, OUTPUT)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_latencies_grow_with_load_and_ttft_sharply_near_capacity(config: ServingConfig) -> None:
    levels = [0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999]
    runs = [replica_performance(config, at_utilization(config, u)) for u in levels]

    assert not any(run.saturated for run in runs)
    assert [run.ttft_mean_s for run in runs] == sorted(run.ttft_mean_s for run in runs)
    assert [run.itl_s for run in runs] == sorted(run.itl_s for run in runs)
    assert runs[-1].ttft_p95_s > 5 * runs[2].ttft_p95_s, [run.ttft_p95_s for run in runs]
    for utilization, run in zip(levels, runs, strict=True):
        assert run.utilization == pytest.approx(utilization, rel=1e-6)
        assert run.ttft_p50_s <= run.ttft_mean_s * 1.5 and run.ttft_p50_s <= run.ttft_p95_s
        assert 0 <= run.kv_usage <= 1


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_occupancy_obeys_littles_law(config: ServingConfig) -> None:
    load = at_utilization(config, 0.6)

    run = replica_performance(config, load)

    in_system = run.e2e_s - API_SERVER_OVERHEAD_S
    assert run.running + run.waiting == pytest.approx(load.arrival_rps * in_system, rel=0.05)


def test_a_lone_request_sees_prefill_then_batch_one_decode() -> None:
    config = ServingConfig(A10G, 1, LLAMA_3_1_8B)

    run = replica_performance(config, ReplicaLoad(0.0, PROMPT, OUTPUT))

    assert run.queue_s == 0 and run.waiting == 0
    assert run.ttft_mean_s > API_SERVER_OVERHEAD_S + prefill_seconds(config, PROMPT) * 0.9
    assert run.e2e_s == pytest.approx(run.ttft_mean_s + (OUTPUT - 1) * run.itl_s)


def test_beyond_capacity_the_replica_is_saturated() -> None:
    config = ServingConfig(A10G, 1, LLAMA_3_1_8B)

    run = replica_performance(config, at_utilization(config, 1.05))

    assert run.saturated and not run.oom
    assert math.isinf(run.ttft_p95_s) and math.isinf(run.waiting)


def test_a_model_that_does_not_fit_is_oom() -> None:
    run = replica_performance(ServingConfig(L4, 1, LLAMA_3_1_70B), ReplicaLoad(0.1, PROMPT, OUTPUT))

    assert run.oom and run.saturated
    assert "weights need" in (run.reason or "")
    assert max_throughput_rps(ServingConfig(L4, 1, LLAMA_3_1_70B), PROMPT, OUTPUT) == 0


def test_a_request_longer_than_the_kv_cache_is_oom() -> None:
    config = ServingConfig(L40S, 1, LLAMA_3_1_70B_AWQ)

    run = replica_performance(config, ReplicaLoad(0.01, 20_000, 500))

    assert run.oom
    assert "exceeds" in (run.reason or "")


def test_kv_pressure_brings_preemptions_near_capacity() -> None:
    config = ServingConfig(L40S, 1, LLAMA_3_1_70B_AWQ)  # about 7k KV tokens: a handful of sequences

    calm = replica_performance(config, at_utilization(config, 0.3))
    pressed = replica_performance(config, at_utilization(config, 0.99))

    assert calm.preemptions_per_s == pytest.approx(0, abs=1e-6)
    assert pressed.preemptions_per_s > 0.01
    assert pressed.kv_usage > 0.9


def test_max_rps_under_slo_is_monotone_in_the_slo() -> None:
    config = ServingConfig(A10G, 1, LLAMA_3_1_8B)
    ttft_slos = [0.3, 0.5, 0.8, 1.0, 2.0, 5.0]
    itl_slos = [0.036, 0.04, 0.05, 0.1, 1.0]

    by_ttft = [max_rps_under_slo(config, PROMPT, OUTPUT, slo, 0.1) for slo in ttft_slos]
    by_itl = [max_rps_under_slo(config, PROMPT, OUTPUT, 5.0, slo) for slo in itl_slos]

    assert by_ttft == sorted(by_ttft) and by_ttft[-1] > by_ttft[0] > 0, by_ttft
    # With chunked prefill the p95 gap is a prefill-carrying step once they pass 5% of steps, so the ITL
    # objective moves capacity in steps: never down as it loosens, and up once it admits that step.
    assert by_itl == sorted(by_itl) and by_itl[-1] > by_itl[0], by_itl
    assert by_ttft[-1] <= max_throughput_rps(config, PROMPT, OUTPUT)


def test_max_rps_meets_the_slo_it_was_sized_for() -> None:
    config = ServingConfig(H100, 1, LLAMA_3_1_8B)

    rate = max_rps_under_slo(config, PROMPT, OUTPUT, ttft_p95_slo_s=0.5, itl_p95_slo_s=0.015)
    run = replica_performance(config, ReplicaLoad(rate, PROMPT, OUTPUT))

    assert rate > 1
    assert run.ttft_p95_s <= 0.5 and run.itl_s <= 0.015


def test_an_slo_tighter_than_a_lone_request_gives_zero() -> None:
    config = ServingConfig(A10G, 1, LLAMA_3_1_8B)

    assert max_rps_under_slo(config, PROMPT, OUTPUT, ttft_p95_slo_s=0.05, itl_p95_slo_s=1.0) == 0.0
    assert max_rps_under_slo(config, PROMPT, OUTPUT, ttft_p95_slo_s=5.0, itl_p95_slo_s=0.001) == 0.0


def test_a_p95_prompt_lengthens_the_ttft_tail_only() -> None:
    config = ServingConfig(A10G, 1, LLAMA_3_1_8B)
    base = ReplicaLoad(1.0, PROMPT, OUTPUT)

    plain = replica_performance(config, base)
    long_tail = replica_performance(config, dataclasses.replace(base, p95_prompt_tokens=4 * PROMPT))

    assert long_tail.ttft_p95_s > plain.ttft_p95_s
    assert long_tail.ttft_mean_s == plain.ttft_mean_s


def test_load_validation() -> None:
    with pytest.raises(ValueError, match="arrival_rps"):
        ReplicaLoad(-1.0, PROMPT, OUTPUT)
    with pytest.raises(ValueError, match="mean_output_tokens"):
        ReplicaLoad(1.0, PROMPT, 0)
