"""One replica with a fixed number of requests kept in flight (a closed loop), from the roofline's steps.

This is the question `--concurrency` asks, and the one `vllm bench serve --max-concurrency`, GuideLLM's
concurrent sweeps and NVIDIA's silicon reference answer: a client keeps `concurrency` requests open and
sends the next as soon as one finishes. Unlike Poisson arrivals at the rate that keeps the same number in
flight on average (`roofline.replica_performance`), nothing arrives in bursts, so no queue builds beyond
the one the loop itself forms.

Each request visits two stations in turn:

- the prefill lane: its prompt rides in the steps' token budget (chunked prefill), one prompt's chunk per
  step and, with budget to spare, several short prompts in one step. A prompt's own prefill lasts the
  step(s) carrying it; prompts ahead of it cost it only their tokens' share of a step;
- decoding: `output - 1` more tokens, one per step, at the steps' mean gap, which includes the share of
  steps that carry prefill chunks (`roofline._chunked_steps`).

Exact mean value analysis of that two-station closed network (a single queue and a pure delay) gives the
time in the prefill lane and the throughput at every population up to `concurrency`. The decoding batch
is the concurrency itself: the sequences in prefill are few, and the decode step's cost is nearly flat in
the batch at the sizes where they matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from optiinfra.capacity.roofline import (
    ServingConfig,
    _batch_limit,
    _chunked_steps,
    _prefill_duration,
    _Shape,
    _shape,
    decode_step_seconds,
    request_overhead_seconds,
    step_seconds,
)


@dataclass(frozen=True)
class ClosedLoopPoint:
    """Means at `concurrency` requests in flight; `reason` says why the replica cannot hold them."""

    concurrency: float
    requests_per_s: float
    ttft_mean_s: float
    itl_mean_s: float
    prefill_wait_s: float
    reason: str | None = None

    @property
    def served(self) -> bool:
        return self.reason is None


def _prefill_costs(config: ServingConfig, shape: _Shape, batch: float) -> tuple[float, float]:
    """(a prompt's own prefill time, the share of a step one prompt's tokens take from others)."""
    seqs = max(batch, 1.0)
    own = _prefill_duration(config, shape, batch, shape.prompt)
    if not config.chunked_prefill:
        return own, own
    room = max(config.max_num_batched_tokens - seqs, 1.0)
    per_token = step_seconds(config, seqs, room, shape.context, shape.prompt) / room
    return own, shape.prompt * per_token


def _mean_gap(config: ServingConfig, shape: _Shape, concurrency: float) -> float:
    """Mean time between one sequence's tokens with `concurrency` requests in the loop. Its own prefill
    comes before its first token, so the steps between its tokens carry the other requests' prompts:
    `concurrency - 1` per cycle, not `concurrency`."""
    seqs = max(concurrency, 1.0)
    if not config.chunked_prefill:
        return decode_step_seconds(config, seqs, shape.context)
    steps = _chunked_steps(config, shape, seqs)
    others = steps.chunks_per_step * (seqs - 1.0) / seqs
    if others <= 1.0:
        return steps.decode_s + others * (steps.mixed_s - steps.decode_s)
    return others * steps.mixed_s


@lru_cache(maxsize=8192)
def closed_loop_point(
    config: ServingConfig, prompt_tokens: float, output_tokens: float, concurrency: float
) -> ClosedLoopPoint:
    """The replica with `concurrency` requests always in flight (mean TTFT and ITL, requests/s)."""
    if concurrency < 1:
        raise ValueError(f"a closed loop keeps at least one request in flight, got {concurrency}")
    shape = _shape(config, prompt_tokens, output_tokens)
    if isinstance(shape, str):
        return ClosedLoopPoint(concurrency, 0.0, math.inf, math.inf, math.inf, shape)
    if concurrency > _batch_limit(config, shape) + 1e-9:
        return ClosedLoopPoint(
            concurrency,
            0.0,
            math.inf,
            math.inf,
            math.inf,
            f"{concurrency:g} requests in flight exceed the {_batch_limit(config, shape):.0f} the replica "
            "holds (KV cache, max_num_seqs or the token budget)",
        )
    step_gap = _mean_gap(config, shape, concurrency)
    overhead = request_overhead_seconds(config)
    own, share = _prefill_costs(config, shape, concurrency)

    def visit(population: int, queue: float, rate: float) -> tuple[float, float, float]:
        """(time in the prefill lane, mean gap, throughput) at `population`, from the queue and rate
        one request fewer leaves (mean value analysis)."""
        gap = step_gap
        if not config.chunked_prefill:
            # Prefill steps pause decoding: a decoding sequence also waits out the prefills of the
            # prompts admitted meanwhile, one per request the loop completes.
            gap = step_gap / max(1.0 - rate * own, 1e-6)
        # A prompt waits for the tokens of those ahead of it; the one being prefilled is, on average,
        # half done (service is deterministic, not exponential).
        busy = min(rate * share, 1.0)
        lane = own + share * max(queue - busy / 2, 0.0)
        return lane, gap, population / (overhead + lane + (shape.output - 1.0) * gap)

    whole = max(1, math.floor(concurrency))
    queue, rate = 0.0, 0.0
    for population in range(1, whole + 1):
        lane, gap, rate = visit(population, queue, rate)
        queue = rate * lane
    fraction = concurrency - whole
    if fraction > 0:  # the estimator's grid reads between whole populations
        next_lane, next_gap, next_rate = visit(whole + 1, queue, rate)
        lane += fraction * (next_lane - lane)
        gap += fraction * (next_gap - gap)
        rate += fraction * (next_rate - rate)
    return ClosedLoopPoint(
        concurrency=concurrency,
        requests_per_s=rate,
        ttft_mean_s=overhead + lane,
        itl_mean_s=gap,
        prefill_wait_s=lane - own,
    )
