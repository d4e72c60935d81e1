"""Measured profiles: a deployment's own latency and throughput against concurrency, from benchmark runs
of the user's own servers (`vllm bench serve`, GuideLLM, inference-perf; see `profile_import`).

A profile is a curve of points for one deployment (GPU, model, tensor-parallel degree, vLLM version) and
one request shape. It answers for a request shape within `SHAPE_TOLERANCE` of the one measured and for a
concurrency inside the measured range, interpolating between points in log space; anywhere else the next
source answers.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

SHAPE_TOLERANCE = 0.25
"""How far (relative) a request's mean prompt and output lengths may be from a profile's and still use it."""


class ProfilePoint(BaseModel):
    """One benchmark run: the load it held and what it measured. Latencies in milliseconds."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="forbid")

    concurrency: float = Field(gt=0, description="Requests in flight (measured or the run's limit)")
    requests_per_s: float = Field(gt=0)
    mean_prompt_tokens: float = Field(gt=0)
    mean_output_tokens: float = Field(gt=0)
    ttft_mean_ms: float = Field(gt=0)
    ttft_p50_ms: float | None = Field(default=None, gt=0)
    ttft_p95_ms: float | None = Field(default=None, gt=0)
    ttft_p99_ms: float | None = Field(default=None, gt=0)
    tpot_mean_ms: float = Field(gt=0)
    tpot_p50_ms: float | None = Field(default=None, gt=0)
    tpot_p95_ms: float | None = Field(default=None, gt=0)
    itl_p95_ms: float | None = Field(default=None, gt=0)


class CapacityProfile(BaseModel):
    """A deployment's measured curve. `workload_id` set: that workload's own; unset: any workload on the
    same GPU x model x TP may use it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)
    gpu: str = Field(min_length=1, max_length=64, description="GPU spec name, e.g. 'NVIDIA H100'")
    model: str = Field(min_length=1, max_length=128, description="Capacity-model name, e.g. 'Llama-3.1-8B'")
    tp: int = Field(default=1, ge=1, le=64)
    vllm_version: str | None = Field(default=None, max_length=64)
    workload_id: str | None = Field(default=None, max_length=64)
    tool: str = Field(
        max_length=64, description="What measured it: vllm-bench-serve, guidellm, inference-perf"
    )
    source_file: str = Field(default="", max_length=512)
    points: list[ProfilePoint] = Field(min_length=1, max_length=1000)

    def matches(self, gpu: str, model: str, tp: int) -> bool:
        return self.gpu == gpu and self.model == model and self.tp == tp

    def fits_shape(self, mean_prompt_tokens: float, mean_output_tokens: float) -> bool:
        prompt = _mean(p.mean_prompt_tokens for p in self.points)
        output = _mean(p.mean_output_tokens for p in self.points)
        return _close(prompt, mean_prompt_tokens) and _close(output, mean_output_tokens)

    @property
    def concurrency_range(self) -> tuple[float, float]:
        levels = [p.concurrency for p in self.points]
        return min(levels), max(levels)

    def at(self, concurrency: float) -> ProfilePoint | None:
        """The curve at `concurrency` (log-linear between the measured points); None outside them."""
        ordered = sorted(self.points, key=lambda p: p.concurrency)
        low, high = ordered[0].concurrency, ordered[-1].concurrency
        if not low <= concurrency <= high:
            return None
        levels = [p.concurrency for p in ordered]
        upper = bisect.bisect_left(levels, concurrency)
        if levels[upper] == concurrency:
            return ordered[upper]
        before, after = ordered[upper - 1], ordered[upper]
        weight = (math.log(concurrency) - math.log(before.concurrency)) / (
            math.log(after.concurrency) - math.log(before.concurrency)
        )
        return _blend(before, after, weight, concurrency)


def _blend(before: ProfilePoint, after: ProfilePoint, weight: float, concurrency: float) -> ProfilePoint:
    def mix(a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        return math.exp((1 - weight) * math.log(a) + weight * math.log(b))

    values = {
        name: mix(getattr(before, name), getattr(after, name))
        for name in ProfilePoint.model_fields
        if name != "concurrency"
    }
    return ProfilePoint(concurrency=concurrency, **values)


def _mean(values: Iterable[float]) -> float:
    found = list(values)
    return sum(found) / len(found)


def _close(measured: float, wanted: float) -> bool:
    return abs(wanted - measured) <= SHAPE_TOLERANCE * measured


def find_profile(
    profiles: Sequence[CapacityProfile],
    *,
    gpu: str,
    model: str,
    tp: int,
    mean_prompt_tokens: float,
    mean_output_tokens: float,
    workload_id: str | None = None,
) -> CapacityProfile | None:
    """The profile for this deployment and shape: the workload's own first, then a shared one."""
    usable = [
        p
        for p in profiles
        if p.matches(gpu, model, tp) and p.fits_shape(mean_prompt_tokens, mean_output_tokens)
    ]
    own = [p for p in usable if workload_id is not None and p.workload_id == workload_id]
    shared = [p for p in usable if p.workload_id is None]
    found = own or shared
    return found[0] if found else None
