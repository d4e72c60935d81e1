"""Would vLLM start with these arguments on this replica? The checks vLLM itself makes at start that an
agent's change can trip, made before the change is proposed, each refusal with vLLM's reason:

- a flag this vLLM does not know (its parser exits): the flags of the version the fleet runs ship in
  `data/vllm_flags.txt`, written from vLLM's own parser (`tests/real/vllm_flags.py`) and checked against
  the real engine by the real-vLLM tier;
- `--max-num-batched-tokens` below `--max-num-seqs`, or below `--max-model-len` with chunked prefill off
  (`SchedulerConfig.verify_max_model_len`);
- a context window one request of which the KV cache cannot hold (`check_enough_kv_cache_memory`: "To
  serve at least one request with the model's max seq len ..."), by the size the engine reports or, where
  it reports none, the capacity model's memory budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from optiinfra.capacity.roofline import ServingConfig, memory_budget
from optiinfra.kube.vllm_args import flag_value, normalize_flag, positive_int_flag

FLAGS_PATH = Path(__file__).parent / "data" / "vllm_flags.txt"


@dataclass(frozen=True)
class VllmFlags:
    version: str
    flags: frozenset[str]


@cache
def known_vllm_flags(path: Path = FLAGS_PATH) -> VllmFlags:
    """The flags (normal form, no dashes in front) of the vLLM version the list was written from."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("# vLLM "):
        raise ValueError(f"{path} does not start with '# vLLM <version>'")
    flags = frozenset(line.strip() for line in lines[1:] if line.strip())
    return VllmFlags(lines[0].removeprefix("# vLLM ").strip(), flags)


def unknown_flags(args: Sequence[str], known: VllmFlags | None = None) -> list[str]:
    """The `--flags` in `args` that vLLM's parser would reject, as written. Its parser is argparse's
    with abbreviations allowed, so a prefix of exactly one flag is that flag (`--max-num-seq` is
    `--max-num-seqs`); a prefix of several is ambiguous and refused like an unknown one."""
    names = (known or known_vllm_flags()).flags
    found: list[str] = []
    for token in args:
        if not token.startswith("--") or token == "--":
            continue
        flag = token.split("=", 1)[0]
        normal = normalize_flag(flag)
        if normal in names or flag in found:
            continue
        if sum(1 for name in names if name.startswith(normal)) != 1:
            found.append(flag)
    return found


CACHE_SIZING_FLAGS = (
    "gpu-memory-utilization",
    "kv-cache-memory-bytes",
    "tensor-parallel-size",
    "pipeline-parallel-size",
    "block-size",
    "kv-cache-dtype",
    "max-num-batched-tokens",
    "dtype",
    "quantization",
    "model",
)
"""Flags that change how large a KV cache the engine makes at start (memory share, parallelism, block and
cache formats, the activation peak it profiles, the weights)."""


def sizes_cache_alike(before: Sequence[str], after: Sequence[str]) -> bool:
    """Whether an engine started with `after` sizes its KV cache as one started with `before` did, so the
    size it reported still holds."""
    return all(flag_value(before, flag) == flag_value(after, flag) for flag in CACHE_SIZING_FLAGS)


def launch_refusal(
    args: Sequence[str], config: ServingConfig, *, kv_capacity_tokens: int | None = None
) -> str | None:
    """Why vLLM would refuse to start a replica of `config` with `args`; None when it would start.

    `config` is the replica as `args` configure it (see `config_from_vllm_args`). The window is checked
    where `--max-model-len` gives it. The KV cache's size in tokens is the capacity model's memory budget
    unless `kv_capacity_tokens` gives it (as a running engine reports it in `vllm:cache_config_info`, or
    `--kv-cache-memory-bytes` fixes it)."""
    known = known_vllm_flags()
    unknown = unknown_flags(args, known)
    if unknown:
        return f"vLLM {known.version} does not know {', '.join(unknown)}: its parser would refuse to start"
    seqs, batched = config.max_num_seqs, config.max_num_batched_tokens
    if batched < seqs:
        return (
            f"--max-num-batched-tokens {batched} is below --max-num-seqs {seqs}: vLLM refuses to start "
            "(the step's token budget must hold one token of every running sequence)"
        )
    window = positive_int_flag(args, "--max-model-len")
    chunked_off = flag_value(args, "--no-enable-chunked-prefill") is not None or (
        flag_value(args, "--enable-chunked-prefill") or ""
    ).lower() in ("false", "0")
    if window is not None and chunked_off and batched < window:
        return (
            f"--max-num-batched-tokens {batched} is below --max-model-len {window} with chunked prefill off: "
            "vLLM refuses to start"
        )
    holds = kv_capacity_tokens
    where = "its KV cache"
    if holds is None:
        budget = memory_budget(config)
        if not budget.fits:
            return f"vLLM would not start: {budget.reason}"
        holds = budget.kv_capacity_tokens
        where = f"{config.gpu.name} x{config.gpu_count} after weights and activations"
    if window is not None and window > holds:
        return (
            f"--max-model-len {window} needs {window:,} tokens of KV cache for one request, but {where} "
            f"holds {holds:,}: vLLM refuses to start (lower the window or give the cache more memory)"
        )
    return None
