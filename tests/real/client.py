"""What a client of the real vLLM measures for itself: streamed completions, timed token by token, with the
server's own token counts (`stream_options.include_usage`). The tier checks what OptiInfra reads from the
server's metrics against these."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from tests.support.real_vllm import SERVED_NAME


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    gaps_s: tuple[float, ...]
    """Seconds between streamed chunks after the first (one token per chunk)."""
    e2e_s: float
    finish_reason: str


async def complete(
    client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int, *, ignore_eos: bool = True
) -> Completion:
    """One greedy completion, streamed; `ignore_eos` makes it generate exactly `max_tokens`."""
    body = {
        "model": SERVED_NAME,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "ignore_eos": ignore_eos,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    arrivals: list[float] = []
    pieces: list[str] = []
    usage: dict[str, int] = {}
    finish = ""
    async with client.stream("POST", f"{url}/v1/completions", json=body, timeout=120.0) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices", []):
                if choice.get("text"):
                    arrivals.append(time.perf_counter())
                    pieces.append(choice["text"])
                finish = choice.get("finish_reason") or finish
    ended = time.perf_counter()
    if not arrivals:
        raise AssertionError("the server streamed no tokens")
    return Completion(
        text="".join(pieces),
        prompt_tokens=int(usage["prompt_tokens"]),
        completion_tokens=int(usage["completion_tokens"]),
        ttft_s=arrivals[0] - started,
        gaps_s=tuple(b - a for a, b in itertools.pairwise(arrivals)),
        e2e_s=ended - started,
        finish_reason=finish,
    )


async def complete_all(
    url: str, prompts: Sequence[str], max_tokens: int, *, concurrency: int = 4
) -> list[Completion]:
    """The prompts, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient() as client:

        async def one(prompt: str) -> Completion:
            async with gate:
                return await complete(client, url, prompt, max_tokens)

        return list(await asyncio.gather(*(one(p) for p in prompts)))


VOCABULARY = (
    "fleet", "replica", "cache", "prompt", "token", "batch", "latency", "memory", "queue", "agent", "scale",
    "drain", "spot", "price", "window", "chunk", "prefix", "decode", "prefill", "engine", "scheduler",
)  # fmt: skip


def words(count: int, seed: int) -> str:
    """A prompt of `count` words, different for each seed."""
    return " ".join(VOCABULARY[(seed * 7 + i * (seed % 5 + 1)) % len(VOCABULARY)] for i in range(count))
