"""kvtier inside a real vLLM: vLLM's `OffloadingConnector` loads `kvtier.vllm.spec.KvtierOffloadingSpec`
on the CPU backend, and with an engine KV cache too small to keep earlier prompts, their prefixes come
back from kvtier's host and disk tiers, with the greedy outputs of an engine that offloads nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.resource.tiering import kv_transfer_config
from tests.real.client import Completion, complete, words
from tests.support.real_vllm import VllmServer, VllmStartError, start_vllm

pytestmark = pytest.mark.real_vllm

KV_BYTES = 2 * 1024 * 1024
"""The engine's own KV cache: 2,048 tokens of the tiny Llama (1 KiB a token), 16 blocks of 128 on CPU."""
BLOCK_TOKENS = 128
"""kvtier's block: one of vLLM's CPU blocks (128 tokens)."""
HOST_BLOCKS = 8
DISK_BLOCKS = 400
PROMPTS = [words(180, seed) for seed in range(6)]
"""Six prompts of about 610 tokens each: together 3,600 tokens, more than the engine's cache holds, so the
first ones are gone from it by the time they are sent again; four full 128-token blocks each, about 24 in
all, more than the 8 of kvtier's host tier, so some come back from its disk tier."""
MAX_TOKENS = 16


def _kvtier_args(disk_path: Path) -> list[str]:
    """The arguments the Resource agent's KV tiering plan writes (its `--kv-transfer-config` and the
    in-process executor), with a disk tier added below its host tier."""
    transfer = json.loads(kv_transfer_config(HOST_BLOCKS, BLOCK_TOKENS, "lru"))
    transfer["kv_connector_extra_config"] |= {"disk_blocks": DISK_BLOCKS, "disk_path": str(disk_path)}
    return [
        "--kv-cache-memory-bytes",
        str(KV_BYTES),
        "--max-model-len",
        "1024",
        "--distributed-executor-backend",
        "uni",
        "--kv-transfer-config",
        json.dumps(transfer),
    ]


@pytest.fixture(scope="module")
def kvtier_vllm(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    workdir = tmp_path_factory.mktemp("vllm-kvtier")
    disk = workdir / "kvtier-disk"
    disk.mkdir()
    server = start_vllm(tiny_llama, workdir, _kvtier_args(disk), VLLM_ENABLE_V1_MULTIPROCESSING="0")
    yield server
    server.stop()


def _series(text: str, family: str, label: str) -> dict[str, float]:
    """One metric family's samples (counters by their `_total` sample) keyed by the value of `label`."""
    found: dict[str, float] = {}
    for parsed in text_string_to_metric_families(text):
        if parsed.name != family:
            continue
        for sample in parsed.samples:
            if sample.name in (family, f"{family}_total") and label in sample.labels:
                found[sample.labels[label]] = sample.value
    return found


def _block_size(text: str) -> int:
    for parsed in text_string_to_metric_families(text):
        if parsed.name == "vllm:cache_config_info":
            return int(parsed.samples[0].labels["block_size"])
    raise AssertionError("vllm:cache_config_info is missing")


async def _completions(url: str, prompts: list[str]) -> list[Completion]:
    """Greedy completions, one request at a time (so every prompt sees the cache the previous ones left)."""
    async with httpx.AsyncClient(timeout=120) as client:
        return [await complete(client, url, prompt, MAX_TOKENS) for prompt in prompts]


def _metrics(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=30).text


def test_prefixes_evicted_from_the_engine_come_back_from_kvtier_with_the_same_outputs(
    kvtier_vllm: VllmServer, real_vllm: VllmServer
) -> None:
    first = asyncio.run(_completions(kvtier_vllm.url, PROMPTS))
    before = _metrics(kvtier_vllm.url)
    again = asyncio.run(_completions(kvtier_vllm.url, PROMPTS))
    after = _metrics(kvtier_vllm.url)
    reference = asyncio.run(_completions(real_vllm.url, PROMPTS))

    texts = [[completion.text for completion in run] for run in (again, first, reference)]
    assert texts[0] == texts[1] == texts[2], "outputs differ with KV loaded from kvtier"

    def delta(family: str, label: str) -> dict[str, float]:
        old = _series(before, family, label)
        return {key: value - old.get(key, 0.0) for key, value in _series(after, family, label).items()}

    by_source = delta("vllm:prompt_tokens_cached_by_source", "source")
    served = delta("vllm:kvtier_hits", "tier")
    block = _block_size(after)
    assert block == BLOCK_TOKENS
    # vLLM counts the external hits of the second pass by the tier kvtier reported for each block...
    assert by_source["host"] > 0 and by_source["disk"] > 0, by_source
    assert by_source["device"] == 0, "the engine's own cache was expected to have lost every prefix"
    # ...and they are exactly the blocks kvtier's own counters say each tier served.
    assert by_source["host"] == served["host"] * block
    assert by_source["disk"] == served["disk"] * block
    # every full block of a prompt but a last one that ends it exactly (vLLM computes at least one token)
    prompt_blocks = sum((completion.prompt_tokens - 1) // block for completion in first)
    assert prompt_blocks > HOST_BLOCKS
    assert served["host"] + served["disk"] == prompt_blocks

    used = _series(after, "vllm:kvtier_used_blocks", "tier")
    assert used["host"] == HOST_BLOCKS and used["disk"] == prompt_blocks - HOST_BLOCKS
    demoted = _series(after, "vllm:kvtier_demotions", "tier")
    assert demoted["host"] >= prompt_blocks - HOST_BLOCKS


def test_kvtier_refuses_an_engine_whose_worker_runs_in_another_process(
    tiny_llama: Path, tmp_path: Path
) -> None:
    """vLLM's CPU backend swaps the in-process executor for the multiprocess one unless V1
    multiprocessing is off; kvtier's two halves would then hold two different stores, so it stops the
    engine at start with what to change."""
    disk = tmp_path / "kvtier-disk"
    disk.mkdir()
    with pytest.raises(VllmStartError):
        start_vllm(tiny_llama, tmp_path / "vllm", _kvtier_args(disk))
    log = (tmp_path / "vllm" / "vllm.log").read_text(errors="replace")
    assert "RuntimeError: kvtier: no store for this configuration in this process" in log
    assert "VLLM_ENABLE_V1_MULTIPROCESSING=0" in log
