"""The capacity answer: which source gives it, the chunked-prefill tail in p95 ITL, and a profile winning
over the silicon reference and the roofline."""

import math
from pathlib import Path

import pytest

from optiinfra.capacity.estimate import CapacityEstimator, CapacitySource
from optiinfra.capacity.gpus import A10G, H100, H200, L40S
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B
from optiinfra.capacity.profile_import import read_profile_file
from optiinfra.capacity.roofline import (
    ReplicaLoad,
    ServingConfig,
    default_max_num_batched_tokens,
    max_throughput_rps,
    replica_performance,
    step_seconds,
)
from optiinfra.capacity.shape import TokenShape, default_token_shape
from optiinfra.capacity.truth import truth_performance
from optiinfra.domain.capacity_profiles import CapacityProfile

PROFILES = Path(__file__).parent / "fixtures" / "profiles"


def _config(gpu: object) -> ServingConfig:
    assert gpu in (A10G, H100, L40S)
    return ServingConfig(gpu, 1, LLAMA_3_1_8B, max_num_batched_tokens=default_max_num_batched_tokens(gpu))  # type: ignore[arg-type]


def test_the_best_source_that_covers_a_deployment_answers_and_says_so() -> None:
    estimator = CapacityEstimator()
    shape = TokenShape(2000.0, 200.0)
    on_h100 = estimator.operating_point(_config(H100), shape, 32)
    on_a10g = estimator.operating_point(_config(A10G), shape, 8)
    assert on_h100.source is CapacitySource.SILICON and "aiconfigurator" in on_h100.detail
    assert on_a10g.source is CapacitySource.ROOFLINE
    # The measured H100 figures, not the prior's: aiconfigurator gives TPOT ~15.6 ms at batch 32 for
    # 2,000/200 tokens where the roofline says ~10 ms.
    prior = estimator.operating_point(_config(H100), shape, 32, CapacitySource.ROOFLINE)
    assert on_h100.tpot_mean_s == pytest.approx(0.0156, rel=0.06)
    assert prior.source is CapacitySource.ROOFLINE and prior.tpot_mean_s != on_h100.tpot_mean_s
    # Percentiles keep the prior's shape around the measured means.
    assert on_h100.ttft_p95_s / on_h100.ttft_mean_s == pytest.approx(
        prior.ttft_p95_s / prior.ttft_mean_s, rel=0.02
    )


def test_a_source_asked_for_that_does_not_cover_the_deployment_falls_back_and_says_so() -> None:
    found = CapacityEstimator().operating_point(
        _config(A10G), TokenShape(512.0, 128.0), 4, CapacitySource.SILICON
    )
    assert found.source is CapacitySource.ROOFLINE


def test_p95_itl_carries_the_chunked_prefill_step_when_such_steps_pass_five_percent() -> None:
    config = _config(L40S)
    prompt, output = 4000.0, 200.0
    rate = 0.8 * max_throughput_rps(config, prompt, output)
    found = replica_performance(config, ReplicaLoad(rate, prompt, output))
    assert found.itl is not None
    share = found.itl.mixed_share
    # A step that carries a full chunk (the budget less one token per decoding sequence), computed on its own.
    full_chunk_step = step_seconds(
        config, 1.0, config.max_num_batched_tokens - math.ceil(found.running), prompt, prompt
    )
    assert share > 0.05, share
    assert found.itl_p95_s >= full_chunk_step, (found.itl_p95_s, full_chunk_step)
    assert found.itl_p95_s == found.itl.mixed_step_s > 3 * found.itl.decode_step_s
    assert found.itl_p50_s == found.itl.decode_step_s <= found.itl_s <= found.itl_p95_s


def test_a_lightly_loaded_replica_shows_no_prefill_tail() -> None:
    config = _config(L40S)
    found = replica_performance(config, ReplicaLoad(0.01, 500.0, 400.0))
    assert found.itl is not None and found.itl.mixed_share < 0.05
    assert found.itl_p95_s == pytest.approx(found.itl_s)


def test_a_measured_profile_wins_where_it_covers_the_shape_and_not_elsewhere() -> None:
    parsed = read_profile_file(PROFILES / "guidellm_report.json")
    profile = CapacityProfile(
        customer_id="acme", gpu=H100.name, model=LLAMA_3_1_8B.name, tool=parsed.tool, points=parsed.points
    )
    estimator = CapacityEstimator(profiles=[profile])
    shape = TokenShape(507.0, 128.0)
    measured = {round(p.concurrency): p for p in profile.points}[8]
    found = estimator.operating_point(_config(H100), shape, measured.concurrency)
    assert found.source is CapacitySource.PROFILE
    assert found.ttft_mean_s * 1000 == pytest.approx(measured.ttft_mean_ms)
    assert found.ttft_p95_s * 1000 == pytest.approx(measured.ttft_p95_ms)
    assert found.requests_per_s == pytest.approx(measured.requests_per_s)
    between = estimator.operating_point(_config(H100), shape, 16)
    assert between.source is CapacitySource.PROFILE
    assert measured.requests_per_s < between.requests_per_s < profile.points[-1].requests_per_s
    # Beyond the measured concurrency, or for another request shape, the next source answers.
    assert estimator.operating_point(_config(H100), shape, 64).source is CapacitySource.SILICON
    assert (
        estimator.operating_point(_config(H100), TokenShape(4000.0, 128.0), 8).source
        is CapacitySource.SILICON
    )


def test_capacity_under_an_objective_names_its_source_and_loosens_with_the_objective() -> None:
    estimator = CapacityEstimator()
    shape = TokenShape(1000.0, 200.0, p95_prompt_tokens=3000.0)
    tight = estimator.max_rps_under_slo(_config(H100), shape, 0.5, 0.05)
    loose = estimator.max_rps_under_slo(_config(H100), shape, 2.0, 0.2)
    assert tight.source is loose.source is CapacitySource.SILICON
    assert 0 < tight.requests_per_s <= loose.requests_per_s
    assert estimator.max_rps_under_slo(_config(H100), shape, 0.001, 0.2).requests_per_s == 0.0


def test_every_rate_up_to_the_capacity_meets_the_objective_on_the_replayed_truth() -> None:
    # Past the chunked-prefill tail every step carries prompt tokens and gaps are uniformly long, so a p95
    # objective can hold again at high concurrency; a replica reaches that rate only by passing the miss.
    config = ServingConfig(H200, 8, LLAMA_3_1_70B, max_num_batched_tokens=8192)
    shape = default_token_shape()
    found = CapacityEstimator().max_rps_under_slo(config, shape, 5.0, 0.1)
    assert found.source is CapacitySource.SILICON and found.requests_per_s > 0
    for fraction in (0.2, 0.4, 0.6, 0.8, 0.95):
        load = ReplicaLoad(
            fraction * found.requests_per_s,
            shape.mean_prompt_tokens,
            shape.mean_output_tokens,
            shape.p95_prompt_tokens,
            shape.p99_prompt_tokens,
        )
        truth = truth_performance(config, load)
        assert not truth.saturated and truth.ttft_p95_s <= 5.0 and truth.itl_p95_s <= 0.1, (fraction, truth)
    beyond = truth_performance(
        config,
        ReplicaLoad(1.3 * found.requests_per_s, shape.mean_prompt_tokens, shape.mean_output_tokens),
    )
    assert beyond.itl_p95_s > 0.1


def test_the_operating_point_at_a_rate_is_where_that_rate_settles_on_the_same_source() -> None:
    estimator = CapacityEstimator()
    config, shape = _config(L40S), TokenShape(2000.0, 250.0)
    alone = estimator.operating_point(config, shape, 1.0)
    assert estimator.operating_point_at_rate(config, shape, alone.requests_per_s / 2) == alone
    busy = estimator.operating_point_at_rate(config, shape, 4 * alone.requests_per_s)
    assert busy is not None and busy.source is CapacitySource.SILICON
    assert busy.requests_per_s >= 4 * alone.requests_per_s
    below = estimator.operating_point(config, shape, busy.concurrency / 1.02)
    assert below.requests_per_s < 4 * alone.requests_per_s
    assert busy.ttft_mean_s > alone.ttft_mean_s and busy.tpot_mean_s > alone.tpot_mean_s
    assert estimator.operating_point_at_rate(config, shape, 1e6) is None
    with pytest.raises(ValueError, match="negative"):
        estimator.operating_point_at_rate(config, shape, -1.0)
