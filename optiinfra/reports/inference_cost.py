"""The cost of inference per workload and model, in the terms of OpenCost's inference-cost API (and the
`llm_cost_per_million_tokens` gauges llm-d exports): $ per 1M tokens blended and per phase, and idle GPU
cost, on the allocation basis (everything the instances cost, idle included, so it reconciles with the bill).

Cost is the workload's hourly cost records over the days; tokens are vLLM's prompt and generation counters
over the same days, from the daily rollup. The input/output split is OpenCost's fallback `multiplier`: an
output token costs `OUTPUT_INPUT_COST_RATIO` input tokens. OpenCost's preferred `compute_time` split needs
vLLM's prefill and decode time counters, which the metrics store does not keep, so no time split is claimed.
The cache savings fraction is prefix-cache hit tokens over prompt tokens, as OpenCost reads it."""

from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from optiinfra.domain.fleet import Workload
from optiinfra.metrics.reporting import DailyTokens
from optiinfra.reports.costs import HourCost, totals

OUTPUT_INPUT_COST_RATIO = 2.5
"""OpenCost's default multiplier when vLLM timing metrics are unavailable."""
PER_MILLION = 1_000_000
BASIS = (
    "Allocation basis: every hourly cost record of the workload's instances over the days (idle included). "
    "Tokens: vLLM's prompt and generation token counters over the same days. Input/output split: OpenCost's "
    f"multiplier method, an output token costing {OUTPUT_INPUT_COST_RATIO} input tokens (the store keeps no "
    "prefill/decode time for OpenCost's compute_time split). Idle GPU cost: each instance-hour's cost x "
    "(1 - GPU utilization / 100) where the hour has a GPU utilization reading. The model is the one the "
    "workload is registered with."
)


class InferenceCost(BaseModel):
    customer_id: str
    workload_id: str
    model_name: str
    cost_basis: Literal["allocation"] = "allocation"
    allocation_method: Literal["multiplier"] = "multiplier"
    output_input_cost_ratio: float = OUTPUT_INPUT_COST_RATIO
    instances: int = Field(description="Instances whose cost records count")
    total_cost_usd: float | None = Field(description="Null when no cost record of the workload was found")
    gpu_hours: float
    idle_gpu_cost_usd: float | None = Field(description="Over the hours with a GPU utilization reading")
    idle_gpu_hours: float | None
    utilization_coverage: float | None = Field(description="Share of the cost with a GPU utilization reading")
    requests: float
    prompt_tokens: float
    generation_tokens: float
    total_tokens: float
    cost_per_million_tokens: float | None = Field(description="Blended: total cost / all tokens x 1M")
    input_cost_usd: float | None
    output_cost_usd: float | None
    input_cost_per_million_tokens: float | None
    output_cost_per_million_tokens: float | None
    cache_savings_fraction: float | None = Field(description="Prefix-cache hit tokens / prompt tokens")
    notes: list[str] = Field(default_factory=list)


class InferenceCostReport(BaseModel):
    since: date
    until: date = Field(description="Excluded")
    basis: str = BASIS
    notes: list[str] = Field(default_factory=list)
    items: list[InferenceCost]


def inference_cost(
    workload: Workload, hours: Sequence[HourCost], tokens: Sequence[DailyTokens], *, instances: int
) -> InferenceCost:
    """`hours` and `tokens` over the same days."""
    spent = totals(hours)
    prompt = sum(day.prompt_tokens for day in tokens)
    generation = sum(day.generation_tokens for day in tokens)
    notes: list[str] = []
    cost: float | None = spent.cost_usd if spent.measured_hours else None
    if cost is None:
        notes.append("no hourly cost record of the workload's instances in these days")
    covered = spent.utilization_covered_cost_usd
    if cost is not None and covered == 0:
        notes.append("no GPU utilization reading for the workload's instances: idle cost unknown")
    elif cost is not None and covered < cost:
        notes.append("idle GPU cost covers only the instance-hours with a GPU utilization reading")
    if prompt + generation == 0:
        notes.append("no token counted in these days")
    split = _split(cost, prompt, generation)
    return InferenceCost(
        customer_id=workload.customer_id,
        workload_id=workload.workload_id,
        model_name=workload.model_name,
        instances=instances,
        total_cost_usd=cost,
        gpu_hours=spent.gpu_hours,
        idle_gpu_cost_usd=spent.idle_gpu_cost_usd if covered else None,
        idle_gpu_hours=spent.idle_gpu_hours if covered else None,
        utilization_coverage=covered / cost if cost else None,
        requests=sum(day.requests for day in tokens),
        prompt_tokens=prompt,
        generation_tokens=generation,
        total_tokens=prompt + generation,
        cost_per_million_tokens=_per_million(cost, prompt + generation),
        input_cost_usd=split[0],
        output_cost_usd=split[1],
        input_cost_per_million_tokens=_per_million(split[0], prompt),
        output_cost_per_million_tokens=_per_million(split[1], generation),
        cache_savings_fraction=(
            min(1.0, sum(day.prefix_hits for day in tokens) / prompt) if prompt > 0 else None
        ),
        notes=notes,
    )


def _split(cost: float | None, prompt: float, generation: float) -> tuple[float | None, float | None]:
    """Input and output cost with an output token costing `OUTPUT_INPUT_COST_RATIO` input tokens."""
    weighted = prompt + OUTPUT_INPUT_COST_RATIO * generation
    if cost is None or weighted <= 0:
        return None, None
    return cost * prompt / weighted, cost * OUTPUT_INPUT_COST_RATIO * generation / weighted


def _per_million(cost: float | None, tokens: float) -> float | None:
    return None if cost is None or tokens <= 0 else cost / tokens * PER_MILLION
