"""The agents' flags on the real engine: vLLM starts and serves with what they propose, refuses what the
launch check refuses (for the reason it gives), knows exactly the flags the check ships; and memory
pressure built on purpose (a small KV cache under concurrent long requests) reaches the pressure score
through the real metrics pipeline."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agents.resource.pressure import memory_pressure
from optiinfra.capacity.models import ModelSpec
from optiinfra.capacity.roofline import ServingConfig
from optiinfra.capacity.vllm_config import config_from_vllm_args
from optiinfra.capacity.vllm_launch import FLAGS_PATH, launch_refusal
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.kube.vllm_args import with_flag
from optiinfra.metrics.scrape import VllmSample, parse_vllm_metrics
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.windows import window_stats
from tests.real.client import complete_all, words
from tests.support.real_vllm import ROOT, VllmServer, VllmStartError, real_python, start_vllm

pytestmark = pytest.mark.real_vllm

TINY = ModelSpec(
    "tiny-llama",
    0.0004,
    layers=2,
    hidden=128,
    kv_heads=2,
    head_dim=32,
    bytes_per_param=4.0,
    kv_cache_bytes=4.0,
)
"""The tiny Llama as the capacity model sees it: fp32, so a token's keys and values take 2 x 2 layers x 2
KV heads x 32 x 4 bytes = 1 KiB."""
KV_BYTES = 2 * 1024 * 1024
KV_TOKENS = KV_BYTES // int(TINY.kv_bytes_per_token)
NODE = PriceCatalog.load_default().get("g6e.xlarge", "us-east-1")

BASE_ARGS = ["--kv-cache-memory-bytes", str(KV_BYTES), "--max-model-len", "1024"]


def _proposed(args: list[str]) -> list[str]:
    """What the Performance and Resource agents write into a Deployment's arguments."""
    args = with_flag(args, "--max-num-seqs", "4")
    args = with_flag(args, "--max-num-batched-tokens", "256")
    return with_flag(args, "--max-model-len", "1024")


def _config(args: list[str]) -> ServingConfig:
    return config_from_vllm_args(NODE, TINY, args)


def _refusal(args: list[str]) -> str | None:
    return launch_refusal(args, _config(args), kv_capacity_tokens=KV_TOKENS)


@pytest.fixture(scope="module")
def constrained_vllm(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """A server on the agents' proposed flags, with a KV cache of 2,048 tokens."""
    args = _proposed(BASE_ARGS)
    assert _refusal(args) is None
    server = start_vllm(tiny_llama, tmp_path_factory.mktemp("vllm-constrained"), args)
    yield server
    server.stop()


def test_the_shipped_flags_are_exactly_the_real_parsers() -> None:
    dumped = subprocess.run(
        [str(real_python()), str(ROOT / "tests" / "real" / "vllm_flags.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert dumped.stdout == FLAGS_PATH.read_text(), "regenerate optiinfra/capacity/data/vllm_flags.txt"


async def test_vllm_serves_with_the_agents_flags_and_memory_pressure_reaches_the_score(
    constrained_vllm: VllmServer, tmp_path: Path
) -> None:
    async with httpx.AsyncClient() as client:
        info = (await client.get(f"{constrained_vllm.url}/metrics", timeout=10.0)).text
    assert f'kv_cache_size_tokens="{KV_TOKENS}"' in info  # the engine agrees on the cache's size

    # Four running requests of ~900 tokens (780 prompt, 120 output) need nearly twice the cache: vLLM
    # preempts and recomputes.
    samples: list[VllmSample] = [await _sample(constrained_vllm)]
    traffic = asyncio.create_task(
        complete_all(constrained_vllm.url, [words(230, s) for s in range(16)], max_tokens=120, concurrency=16)
    )
    while not traffic.done():
        await asyncio.sleep(0.2)
        samples.append(await _sample(constrained_vllm))
    done = await traffic
    samples.append(await _sample(constrained_vllm))
    assert all(c.completion_tokens == 120 for c in done)

    rows = [
        window_stats(previous, current, customer_id="c", workload_id="w")
        for previous, current in itertools.pairwise(samples)
    ]
    # The cache's fill is a gauge read at each scrape, which may fall between the bursts; preemptions are
    # counted, so they are what the check rests on.
    assert sum(r.preemptions for r in rows) > 0
    assert all(0.0 <= r.kv_usage <= 1.0 for r in rows)
    with ChdbMetricsStore(tmp_path / "chdb") as store:
        store.write_window_stats(rows)
        windows = store.read_workload_windows(
            "c", "w", samples[0].at - timedelta(minutes=1), samples[-1].at + timedelta(minutes=1), 60
        )
    assert sum(w.preemptions for w in windows) == sum(r.preemptions for r in rows)
    pressure = memory_pressure(windows, [], samples[-1].at)
    assert pressure.preemptions_per_1k > 0
    assert pressure.level in ("high", "critical"), pressure.describe()
    assert "preemptions per 1,000 requests" in pressure.describe()


async def _sample(server: VllmServer) -> VllmSample:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/metrics", timeout=10.0)
        return parse_vllm_metrics(response.text, replica="constrained", at=datetime.now(UTC))


@pytest.mark.parametrize(
    ("change", "vllm_says"),
    [
        (["--swap-space", "4"], "unrecognized arguments"),
        (["--max-num-seqs", "512", "--max-num-batched-tokens", "256"], "must be greater than or equal to"),
        (["--max-model-len", "3072"], "To serve at least one request"),
    ],
    ids=["unknown flag", "step budget below the batch", "window over the KV cache"],
)
def test_what_the_launch_check_refuses_vllm_refuses_too(
    change: list[str], vllm_says: str, tiny_llama: Path, tmp_path: Path
) -> None:
    args = list(BASE_ARGS)
    for flag, value in zip(change[::2], change[1::2], strict=True):
        args = with_flag(args, flag, value)
    assert _refusal(args) is not None
    with pytest.raises(VllmStartError) as refused:
        start_vllm(tiny_llama, tmp_path / "refused", args).stop()
    assert vllm_says in str(refused.value) or vllm_says in (tmp_path / "refused" / "vllm.log").read_text()
