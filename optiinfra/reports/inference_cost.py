"""The cost of inference per workload and model, in the terms of OpenCost's inference-cost API (and the
`llm_cost_per_million_tokens` gauges llm-d exports): $ per 1M tokens blended and per phase, and idle GPU
cost, on the allocation basis (everything the instances cost, idle included, so it reconciles with the bill).

Cost is the workload's hourly cost records over the days. The per-token figures divide matched quantities:
the cost of the hours in which vLLM's prompt and generation counters were read, by the tokens counted in
those hours. Billing history often reaches back further than token counting (a customer onboards with
a month of cost records and a scraper started an hour ago): dividing all of the cost by the tokens of
one hour would make up a rate hundreds of times the real one. Tokens per hour come from the raw windows;
where those are past their retention, the daily rollup matches whole days instead. `total_cost_usd` and
the idle figures stay over every hour with a cost record.

The input/output split is OpenCost's fallback `multiplier`: an output token costs
`OUTPUT_INPUT_COST_RATIO` input tokens. OpenCost's preferred `compute_time` split needs vLLM's prefill and
decode time counters, which the metrics store does not keep, so no time split is claimed. The cache
savings fraction is prefix-cache hit tokens over prompt tokens, as OpenCost reads it."""

from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.domain.fleet import Workload
from optiinfra.metrics.reporting import DailyTokens, HourlyTokens
from optiinfra.reports.costs import HOUR, HourCost, totals

OUTPUT_INPUT_COST_RATIO = 2.5
"""OpenCost's default multiplier when vLLM timing metrics are unavailable."""
PER_MILLION = 1_000_000
BASIS = (
    "Allocation basis: every hourly cost record of the workload's instances over the days (idle included) "
    "makes total_cost_usd. Tokens: vLLM's prompt and generation token counters over the same days. "
    "$ per 1M tokens (blended, input, output) divides matched quantities: the cost of the hours in which "
    "tokens were counted (token_covered_cost_usd; an hour in which counting began, or still under way, "
    "counts for the part of it the windows span) by the tokens counted in those hours, from the raw "
    "collection windows. Days whose raw windows are past their retention are matched whole from the daily "
    "rollup: the cost of each day with token counts, by its tokens. token_coverage is the share of "
    "total_cost_usd so matched. Input/output split of the matched cost: OpenCost's multiplier method, an "
    f"output token costing {OUTPUT_INPUT_COST_RATIO} input tokens (the store keeps no prefill/decode time "
    "for OpenCost's compute_time split). Idle GPU cost: each instance-hour's cost x "
    "(1 - GPU utilization / 100) where the hour has a GPU utilization reading. The model is the one the "
    "workload is registered with."
)
FULL_COVERAGE = 0.9995
"""A share of the cost at or above this is reported as full token coverage (no note)."""


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
    token_covered_cost_usd: float | None = Field(
        description="The cost of the hours (days, past the raw windows' retention) in which tokens were "
        "counted: what the per-token figures divide. Null when no hour with a cost record had token counts"
    )
    token_covered_hours: float = Field(
        description="The hours that cost covers: the counted part of each hour with raw windows, and every "
        "hour with a cost record of a day matched from the daily rollup"
    )
    token_covered_prompt_tokens: float = Field(description="Prompt tokens counted in those hours")
    token_covered_generation_tokens: float = Field(description="Generation tokens counted in those hours")
    token_coverage: float | None = Field(
        description="token_covered_cost_usd / total_cost_usd: the share of the cost whose hours had token "
        "counts"
    )
    cost_per_million_tokens: float | None = Field(
        description="Blended: token_covered_cost_usd / the tokens counted in those hours x 1M"
    )
    input_cost_usd: float | None = Field(description="The input share of token_covered_cost_usd")
    output_cost_usd: float | None = Field(description="The output share of token_covered_cost_usd")
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


class _Matched(BaseModel):
    """Cost and tokens over the same hours."""

    model_config = ConfigDict(frozen=True)

    cost_usd: float = 0.0
    hours: float = 0.0
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    unbilled_tokens: float = 0.0
    """Tokens counted in hours (or days) without a cost record: left out of the per-token figures."""
    days_from_rollup: int = 0


def inference_cost(
    workload: Workload,
    hours: Sequence[HourCost],
    tokens: Sequence[DailyTokens],
    *,
    instances: int,
    hourly: Sequence[HourlyTokens] = (),
) -> InferenceCost:
    """`hours` and `tokens` (the daily rollup) over the same days; `hourly` the tokens per hour from the
    raw windows in those days where the store still keeps them. A day with any hourly row is matched by
    the hour; a day of the rollup without one, by the day."""
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
    matched = _matched(hours, tokens, hourly)
    matched_cost = matched.cost_usd if matched.hours > 0 else None
    coverage = matched_cost / cost if matched_cost is not None and cost else None
    notes += _coverage_notes(cost, matched, coverage, counted=prompt + generation > 0)
    split = _split(matched_cost, matched.prompt_tokens, matched.generation_tokens)
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
        token_covered_cost_usd=matched_cost,
        token_covered_hours=matched.hours,
        token_covered_prompt_tokens=matched.prompt_tokens,
        token_covered_generation_tokens=matched.generation_tokens,
        token_coverage=coverage,
        cost_per_million_tokens=_per_million(matched_cost, matched.prompt_tokens + matched.generation_tokens),
        input_cost_usd=split[0],
        output_cost_usd=split[1],
        input_cost_per_million_tokens=_per_million(split[0], matched.prompt_tokens),
        output_cost_per_million_tokens=_per_million(split[1], matched.generation_tokens),
        cache_savings_fraction=(
            min(1.0, sum(day.prefix_hits for day in tokens) / prompt) if prompt > 0 else None
        ),
        notes=notes,
    )


def _matched(
    hours: Sequence[HourCost], tokens: Sequence[DailyTokens], hourly: Sequence[HourlyTokens]
) -> _Matched:
    """The cost of the hours with token counts and the tokens of those hours. An hour of raw windows
    costs the part of it the windows span; a day matched from the rollup costs all its hours."""
    cost_by_hour = {h.hour: h.cost_usd for h in hours}
    cost = span = prompt = generation = unbilled = 0.0
    for row in hourly:
        hour_cost = cost_by_hour.get(row.hour)
        if hour_cost is None:
            unbilled += row.prompt_tokens + row.generation_tokens
            continue
        share = min(1.0, max(0.0, row.counted_seconds / HOUR.total_seconds()))
        cost += hour_cost * share
        span += share
        prompt += row.prompt_tokens
        generation += row.generation_tokens
    by_the_hour = {row.hour.date() for row in hourly}
    from_rollup = 0
    for day in tokens:
        if day.day in by_the_hour:
            continue
        day_hours = [h for h in hours if h.hour.date() == day.day]
        if not day_hours:
            unbilled += day.prompt_tokens + day.generation_tokens
            continue
        from_rollup += 1
        cost += sum(h.cost_usd for h in day_hours)
        span += len(day_hours)
        prompt += day.prompt_tokens
        generation += day.generation_tokens
    return _Matched(
        cost_usd=cost,
        hours=span,
        prompt_tokens=prompt,
        generation_tokens=generation,
        unbilled_tokens=unbilled,
        days_from_rollup=from_rollup,
    )


def _coverage_notes(
    cost: float | None, matched: _Matched, coverage: float | None, *, counted: bool
) -> list[str]:
    notes: list[str] = []
    if cost is None:
        return notes
    if counted and matched.hours == 0:
        notes.append("tokens were counted only in hours without a cost record: no $ per 1M tokens")
    rated = matched.prompt_tokens + matched.generation_tokens > 0
    if rated and coverage is not None and coverage < FULL_COVERAGE:
        notes.append(
            f"$ per 1M tokens over the {_hours_text(matched.hours)} with token counts, "
            f"{_percent(coverage)} of the cost"
        )
    if matched.days_from_rollup:
        notes.append(
            f"{matched.days_from_rollup} day(s) past the raw windows' retention matched by the day from the "
            "daily rollup: the cost of each day with token counts, by its tokens"
        )
    if matched.unbilled_tokens > 0 and matched.hours > 0:
        notes.append(
            f"{matched.unbilled_tokens:,.0f} tokens counted in hours without a cost record are left out of "
            "the $ per 1M tokens"
        )
    return notes


def _hours_text(hours: float) -> str:
    """`5 minutes`, `1 hour`, `1.2 hours`, `26 hours`."""
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    text = f"{hours:,.0f}" if abs(hours - round(hours)) < 0.05 else f"{hours:,.1f}"
    return f"{text} hour" if text == "1" else f"{text} hours"


def _percent(share: float) -> str:
    """Three significant figures, never rounded up to a full 100 %."""
    return f"{min(share * 100, 99.9):.3g}%"


def _split(cost: float | None, prompt: float, generation: float) -> tuple[float | None, float | None]:
    """Input and output cost with an output token costing `OUTPUT_INPUT_COST_RATIO` input tokens."""
    weighted = prompt + OUTPUT_INPUT_COST_RATIO * generation
    if cost is None or weighted <= 0:
        return None, None
    return cost * prompt / weighted, cost * OUTPUT_INPUT_COST_RATIO * generation / weighted


def _per_million(cost: float | None, tokens: float) -> float | None:
    return None if cost is None or tokens <= 0 else cost / tokens * PER_MILLION
