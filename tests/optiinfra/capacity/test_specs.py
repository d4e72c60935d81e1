"""GPU and model specs: every vLLM-capable GPU in the catalog has a spec, and the model arithmetic holds."""

import pytest

from optiinfra.capacity.gpus import (
    A100_40GB,
    A100_80GB,
    H100,
    L40S,
    T4,
    gpu_spec_for,
    gpu_spec_for_instance,
)
from optiinfra.capacity.models import (
    LLAMA_3_1_8B,
    LLAMA_3_1_70B,
    LLAMA_3_1_70B_AWQ,
    QWEN2_5_7B,
    model_spec,
)
from optiinfra.catalog import PriceCatalog

UNSUPPORTED_BY_VLLM = {"NVIDIA GRID K520", "NVIDIA Tesla K80", "NVIDIA Tesla M60", "NVIDIA B300"}


def catalog_gpu_models() -> set[str]:
    catalog = PriceCatalog.load_default()
    return {t.gpu_model for region in catalog.regions() for t in catalog.types_in(region)}


def test_every_recent_nvidia_gpu_in_the_catalog_has_a_spec() -> None:
    nvidia = {name for name in catalog_gpu_models() if name.startswith("NVIDIA")} - UNSUPPORTED_BY_VLLM

    assert nvidia, "the catalog should list NVIDIA GPUs"
    for name in sorted(nvidia):
        spec = gpu_spec_for(name)
        assert spec.hbm_bandwidth_gbps > 0
        assert spec.dense_fp16_tflops > 0
        assert 0 < spec.driver_visible_gib <= spec.hbm_gib


def test_unknown_gpu_model_names_what_is_covered() -> None:
    with pytest.raises(KeyError, match=r"AWS Inferentia.*covers.*NVIDIA A10G"):
        gpu_spec_for("AWS Inferentia")


def test_memory_size_picks_the_variant_sharing_a_catalog_name() -> None:
    catalog = PriceCatalog.load_default()

    assert gpu_spec_for("NVIDIA A100") is A100_40GB
    assert gpu_spec_for("NVIDIA A100", memory_gib=80) is A100_80GB
    assert gpu_spec_for_instance(catalog.get("p4d.24xlarge", "us-east-1")) is A100_40GB
    assert gpu_spec_for_instance(catalog.get("p4de.24xlarge", "us-east-1")) is A100_80GB
    assert gpu_spec_for("NVIDIA T4G Tensor Core") is T4


def test_dense_not_sparse_tensor_figures() -> None:
    # Datasheets lead with 2:4-sparse numbers: H100 SXM BF16 1,979 and L40S 733 TFLOPS.
    assert H100.dense_fp16_tflops == pytest.approx(1979 / 2, rel=0.01)
    assert L40S.dense_fp16_tflops == pytest.approx(733 / 2, rel=0.02)
    assert H100.peak_flops(fp8=True) == 2 * H100.peak_flops()
    assert A100_80GB.peak_flops(fp8=True) == A100_80GB.peak_flops(), "no FP8 tensor cores on Ampere"


def test_kv_bytes_per_token_follow_grouped_query_attention() -> None:
    # 2 (K and V) * 32 layers * 8 KV heads * 128 dims * 2 bytes
    assert LLAMA_3_1_8B.kv_bytes_per_token == 131_072
    assert LLAMA_3_1_70B.kv_bytes_per_token == 2 * 80 * 8 * 128 * 2
    assert QWEN2_5_7B.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2


def test_weight_bytes_reflect_the_format() -> None:
    assert LLAMA_3_1_8B.weight_bytes / 1e9 == pytest.approx(16.06, rel=0.01)
    assert LLAMA_3_1_70B.weight_bytes / 1e9 == pytest.approx(141.1, rel=0.01)
    assert 35 < LLAMA_3_1_70B_AWQ.weight_bytes / 1e9 < 45, "an AWQ INT4 70B checkpoint is about 40 GB"


def test_unknown_model_names_what_is_covered() -> None:
    assert model_spec("Llama-3.1-8B") is LLAMA_3_1_8B
    with pytest.raises(KeyError, match=r"covers.*Llama-3\.1-8B"):
        model_spec("GPT-5")
