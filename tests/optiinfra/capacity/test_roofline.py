"""Roofline physics of one replica: memory budget and step times."""

import dataclasses
import itertools
from typing import Any

import pytest

from optiinfra.capacity.gpus import A10G, A100_80GB, H100, L4, L40S
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B, LLAMA_3_1_70B_AWQ
from optiinfra.capacity.roofline import (
    MATMUL_EFFICIENCY,
    MEMORY_BANDWIDTH_EFFICIENCY,
    ServingConfig,
    config_for_instance,
    decode_step_seconds,
    decode_throughput_tokens_per_s,
    kv_capacity_tokens,
    memory_budget,
    prefill_seconds,
    prefill_throughput_tokens_per_s,
)
from optiinfra.catalog import PriceCatalog

LLAMA_8B_ON_A10G = ServingConfig(A10G, 1, LLAMA_3_1_8B)


def test_llama_8b_on_one_a10g_leaves_a_few_tens_of_thousands_of_kv_tokens() -> None:
    budget = memory_budget(LLAMA_8B_ON_A10G)

    assert budget.fits
    assert 20_000 <= kv_capacity_tokens(LLAMA_8B_ON_A10G) <= 60_000
    assert kv_capacity_tokens(LLAMA_8B_ON_A10G) % LLAMA_8B_ON_A10G.block_size == 0


def test_70b_fp16_does_not_fit_on_one_l4() -> None:
    config = ServingConfig(L4, 1, LLAMA_3_1_70B)

    assert kv_capacity_tokens(config) == 0
    assert memory_budget(config).reason is not None
    assert "weights need" in (memory_budget(config).reason or "")


def test_tensor_parallelism_makes_room_for_70b() -> None:
    assert kv_capacity_tokens(ServingConfig(A100_80GB, 1, LLAMA_3_1_70B)) == 0
    assert kv_capacity_tokens(ServingConfig(A100_80GB, 4, LLAMA_3_1_70B)) > 100_000
    assert kv_capacity_tokens(ServingConfig(L40S, 1, LLAMA_3_1_70B_AWQ)) > 0


def test_more_memory_utilization_means_more_kv() -> None:
    tighter = dataclasses.replace(LLAMA_8B_ON_A10G, gpu_memory_utilization=0.8)

    assert kv_capacity_tokens(tighter) < kv_capacity_tokens(LLAMA_8B_ON_A10G)


def test_decode_is_memory_bound_at_batch_one() -> None:
    weights_time = LLAMA_3_1_8B.weight_bytes / (A10G.bandwidth_bytes_per_s * MEMORY_BANDWIDTH_EFFICIENCY)
    compute_time = LLAMA_3_1_8B.flops_per_token / (A10G.peak_flops() * MATMUL_EFFICIENCY)

    step = decode_step_seconds(LLAMA_8B_ON_A10G, 1, 512)

    assert compute_time < weights_time / 20
    assert step == pytest.approx(weights_time, rel=0.1)


def test_decode_throughput_rises_with_batch_then_saturates() -> None:
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    rates = [decode_throughput_tokens_per_s(LLAMA_8B_ON_A10G, batch, 300) for batch in batches]
    gains = [later / earlier for earlier, later in itertools.pairwise(rates)]

    assert all(gain > 1 for gain in gains), rates
    assert gains[0] > 1.9, "doubling a memory-bound batch nearly doubles throughput"
    assert gains[-1] < 1.15, "a compute-bound batch gains little from doubling"
    compute_ceiling = A10G.peak_flops() * MATMUL_EFFICIENCY / LLAMA_3_1_8B.flops_per_token
    assert rates[-1] < compute_ceiling


def test_bandwidth_orders_gpus_at_batch_one() -> None:
    order = [H100, A100_80GB, L40S, A10G, L4]
    rates = [decode_throughput_tokens_per_s(ServingConfig(gpu, 1, LLAMA_3_1_8B), 1, 1024) for gpu in order]

    assert rates == sorted(rates, reverse=True), dict(zip([g.name for g in order], rates, strict=True))


def test_prefill_is_compute_bound_and_chunked() -> None:
    rate = prefill_throughput_tokens_per_s(LLAMA_8B_ON_A10G, 2000)
    # Prompt tokens skip the LM head (vLLM computes logits only where it samples).
    ceiling = A10G.peak_flops() * MATMUL_EFFICIENCY / LLAMA_3_1_8B.prefill_flops_per_token

    assert 0.8 * ceiling < rate < ceiling
    assert prefill_seconds(LLAMA_8B_ON_A10G, 8000) > 4 * prefill_seconds(LLAMA_8B_ON_A10G, 2000), (
        "attention grows quadratically with the prompt"
    )
    assert prefill_seconds(LLAMA_8B_ON_A10G, 0) == 0


def test_tensor_parallel_decode_is_faster_but_not_linearly() -> None:
    two = decode_step_seconds(ServingConfig(H100, 2, LLAMA_3_1_70B), 8, 1000)
    eight = decode_step_seconds(ServingConfig(H100, 8, LLAMA_3_1_70B), 8, 1000)

    assert eight < two
    assert eight > two / 4, "all-reduces and fixed step overhead do not shrink with the group"


def test_config_for_instance_spans_its_gpus() -> None:
    g5_12xlarge = PriceCatalog.load_default().get("g5.12xlarge", "us-east-1")

    config = config_for_instance(g5_12xlarge, LLAMA_3_1_70B_AWQ)

    assert config.gpu is A10G
    assert config.tensor_parallel == 4
    assert kv_capacity_tokens(config) > 0


@pytest.mark.parametrize(
    "overrides",
    [{"gpu_count": 0}, {"gpu_memory_utilization": 0.0}, {"gpu_memory_utilization": 1.5}, {"max_num_seqs": 0}],
)
def test_serving_config_rejects_nonsense(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        dataclasses.replace(LLAMA_8B_ON_A10G, **overrides)
