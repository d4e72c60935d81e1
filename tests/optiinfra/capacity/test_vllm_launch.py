"""The launch check: what vLLM refuses at start, caught before an agent proposes it."""

from dataclasses import replace
from pathlib import Path

import pytest

from optiinfra.capacity.gpus import L40S
from optiinfra.capacity.models import LLAMA_3_1_8B
from optiinfra.capacity.roofline import ServingConfig, memory_budget
from optiinfra.capacity.vllm_config import config_from_vllm_args
from optiinfra.capacity.vllm_launch import known_vllm_flags, launch_refusal, sizes_cache_alike, unknown_flags
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.kube.vllm_args import with_flag

L40S_NODE = PriceCatalog.load_default().get("g6e.xlarge", "us-east-1")


def _config(args: list[str]) -> ServingConfig:
    return config_from_vllm_args(L40S_NODE, LLAMA_3_1_8B, args)


def test_the_shipped_flags_are_vllm_0_32s() -> None:
    known = known_vllm_flags()
    assert known.version == "0.32.0"
    assert {"max-num-seqs", "max-model-len", "max-num-batched-tokens", "kv-transfer-config"} <= known.flags
    assert "no-enable-chunked-prefill" in known.flags


def test_flags_are_known_in_any_spelling_and_unknown_ones_are_named() -> None:
    args = [
        "--model",
        "m",
        "--max_num_seqs",
        "64",
        "--max-model-len=4096",
        "--swap-space=4",
        "--max-num",
        "8",
    ]
    assert unknown_flags(args) == ["--swap-space", "--max-num"]  # --max-num is a prefix of several flags
    refused = launch_refusal(args, _config(args))
    assert refused is not None and "vLLM 0.32.0 does not know --swap-space, --max-num" in refused
    # argparse takes a prefix of exactly one flag for that flag, and so does vLLM.
    assert unknown_flags(["--max-num-seq", "8", "--max-model=4096"]) == []


def test_what_vllm_starts_with_passes() -> None:
    args = [
        "--model",
        "m",
        "--max-num-seqs",
        "128",
        "--max-num-batched-tokens",
        "2048",
        "--max-model-len",
        "8192",
    ]
    assert launch_refusal(args, _config(args)) is None
    assert launch_refusal(["--model", "m"], _config([])) is None


def test_a_step_budget_below_the_batch_is_refused() -> None:
    args = ["--max-num-seqs", "512", "--max-num-batched-tokens", "256"]
    refused = launch_refusal(args, _config(args))
    assert refused is not None and "below --max-num-seqs 512" in refused


def test_a_window_longer_than_the_step_budget_needs_chunked_prefill() -> None:
    args = ["--max-num-batched-tokens", "2048", "--max-model-len", "8192", "--no-enable-chunked-prefill"]
    refused = launch_refusal(args, _config(args))
    assert refused is not None and "chunked prefill off" in refused
    chunked = ["--max-num-batched-tokens", "2048", "--max-model-len", "8192"]
    assert launch_refusal(chunked, _config(chunked)) is None


def test_a_window_the_kv_cache_cannot_hold_for_one_request_is_refused() -> None:
    holds = memory_budget(_config([])).kv_capacity_tokens
    too_long = ["--max-model-len", str(holds + 16)]
    refused = launch_refusal(too_long, _config(too_long))
    assert refused is not None and f"holds {holds:,}" in refused and "L40S" in refused
    fits = ["--max-model-len", str(holds)]
    assert launch_refusal(fits, _config(fits)) is None
    # The engine's own figure, where it is known, decides instead of the model's budget.
    assert launch_refusal(fits, _config(fits), kv_capacity_tokens=holds - 1) is not None


def test_a_model_that_does_not_fit_is_refused_with_the_budgets_reason() -> None:
    config = replace(ServingConfig(L40S, 1, LLAMA_3_1_8B), gpu_memory_utilization=0.2)
    refused = launch_refusal([], config)
    assert refused is not None and "weights need" in refused


def test_a_flags_file_must_say_its_version(tmp_path: Path) -> None:
    unversioned = tmp_path / "flags.txt"
    unversioned.write_text("max-num-seqs\n")
    with pytest.raises(ValueError, match="# vLLM"):
        known_vllm_flags(unversioned)


def test_a_change_that_leaves_the_cache_sizing_alone_keeps_the_engines_reported_size() -> None:
    before = ["--model", "m", "--max-num-seqs", "64", "--gpu-memory-utilization", "0.9"]
    assert sizes_cache_alike(before, with_flag(before, "--max-num-seqs", "16"))
    assert sizes_cache_alike(before, with_flag(before, "--max-model-len", "4096"))
    assert not sizes_cache_alike(before, with_flag(before, "--gpu-memory-utilization", "0.8"))
    assert not sizes_cache_alike(before, with_flag(before, "--max-num-batched-tokens", "16384"))
