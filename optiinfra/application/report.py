"""The Application agent's analyses of one request log, as `optiinfra analyze application` prints them
and writes them with `--json`: the log's profile, model routing with the monthly cost of each route,
context right-sizing per request type, prompt efficiency and (with tier-2 statistics) RAG tuning."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.application.context import DEFAULT_BUFFER, ContextRightSizing, right_size_context
from agents.application.efficiency import PromptEfficiency, analyze_prompt_efficiency
from agents.application.rag import RagTuning, analyze_rag
from agents.application.routing import RoutingAnalysis, RoutingRule, analyze_routing
from optiinfra.application.model_prices import ModelPrice, ModelPriceTable
from optiinfra.domain.application import ApplicationProfile, TokenStats

GIB = 2**30


@dataclass(frozen=True)
class ApplicationReport:
    source: str
    log_format: str
    profile: ApplicationProfile
    prices: ModelPriceTable
    current: ModelPrice
    cheap: ModelPrice
    routing: RoutingAnalysis
    context: ContextRightSizing
    efficiency: PromptEfficiency
    rag: list[RagTuning] | str


def build_report(
    profile: ApplicationProfile,
    prices: ModelPriceTable,
    *,
    model: str,
    cheap_model: str | None = None,
    buffer: float = DEFAULT_BUFFER,
    rule: RoutingRule | None = None,
    current_window: int | None = None,
    source: str = "",
    log_format: str = "",
) -> ApplicationReport:
    """Every analysis of `profile` for a workload on `model`; routing goes to `cheap_model`, by default the
    table's cheaper model for `model`. `current_window`: the server's `--max-model-len`, else the model's
    context window. UnknownModelError for a model the table lacks, ValueError without a cheaper model."""
    current = prices.get(model)
    cheap_name = cheap_model or current.cheaper_model
    if cheap_name is None:
        raise ValueError(f"the price table names no cheaper model for {current.name}: give one to route to")
    cheap = prices.get(cheap_name)
    return ApplicationReport(
        source=source,
        log_format=log_format,
        profile=profile,
        prices=prices,
        current=current,
        cheap=cheap,
        routing=analyze_routing(profile, current, cheap, rule),
        context=right_size_context(
            profile, current_window or current.max_context_tokens, buffer=buffer, price=current
        ),
        efficiency=analyze_prompt_efficiency(profile, current),
        rag=analyze_rag(profile.rag, current),
    )


def _stats(stats: TokenStats) -> dict[str, float]:
    return {**stats.model_dump(), "cv": stats.cv}


def _price(model: ModelPrice) -> dict[str, Any]:
    return {
        "name": model.name,
        "input_usd_per_1m": model.input_usd_per_1m,
        "cached_input_usd_per_1m": model.cached_input_usd_per_1m,
        "output_usd_per_1m": model.output_usd_per_1m,
        "max_context_tokens": model.max_context_tokens,
    }


def report_json(report: ApplicationReport) -> dict[str, Any]:
    """Every figure of the report, JSON-ready."""
    profile, routing, context, efficiency = report.profile, report.routing, report.context, report.efficiency
    kv = context.kv_bytes_freed_per_sequence
    return {
        "log": {
            "source": report.source,
            "format": report.log_format,
            "requests": profile.requests,
            "start": profile.start.isoformat(),
            "end": profile.end.isoformat(),
            "duration_s": profile.duration_s,
            "monthly_factor": profile.monthly_factor,
            "input_tokens": profile.input_tokens,
            "output_tokens": profile.output_tokens,
            "types": [
                {
                    "request_type": t.request_type,
                    "requests": t.requests,
                    "error_share": t.error_share,
                    "duration_s": t.duration_s,
                    "context": _stats(t.context),
                    "generated": _stats(t.generated),
                    "total": _stats(t.total),
                }
                for t in profile.types
            ],
        },
        "prices": {
            "as_of": report.prices.as_of,
            "current": _price(report.current),
            "cheap": _price(report.cheap),
            "sources": {p.provider: report.prices.source_of(p) for p in (report.current, report.cheap)},
        },
        "routing": {
            "current_model": routing.current_model,
            "cheap_model": routing.cheap_model,
            "max_generated_tokens": routing.rule.max_generated_tokens,
            "window_tokens": routing.window_tokens,
            "exact": routing.rule.exact,
            "requests": routing.requests,
            "routed_requests": routing.routed_requests,
            "share": routing.share,
            "routed_input_tokens": routing.routed_input_tokens,
            "routed_output_tokens": routing.routed_output_tokens,
            "routed_input_share": routing.routed_input_share,
            "long_requests": routing.long_requests,
            "long_share": routing.long_share,
            "max_long_share": routing.rule.max_long_share,
            "min_requests": routing.rule.min_requests,
            "quality_sample_requests": routing.rule.quality_sample_requests,
            "types": [
                {
                    "request_type": t.request_type,
                    "requests": t.requests,
                    "prompt_limit": t.prompt_limit,
                    "routed_requests": t.routed_requests,
                    "share": t.share,
                    "long_requests": t.long_requests,
                    "long_share_upper": t.long_share_upper,
                    "reason": t.reason,
                    "monthly_savings_usd": t.monthly_savings_usd,
                    "quality": t.quality.value,
                    "compared": t.compared,
                    "worse": t.worse,
                    "more_to_confirm": t.more_to_confirm,
                }
                for t in routing.types
            ],
            "monthly_cost_all_current_usd": routing.monthly_cost_current_usd,
            "monthly_cost_split_current_usd": routing.monthly_cost_split_current_usd,
            "monthly_cost_split_cheap_usd": routing.monthly_cost_split_cheap_usd,
            "monthly_cost_split_usd": routing.monthly_cost_split_usd,
            "monthly_savings_upper_bound_usd": routing.monthly_savings_upper_bound_usd,
            "monthly_savings_confirmed_usd": routing.monthly_savings_confirmed_usd,
            "max_worse_share": routing.rule.max_worse_share,
            "savings_share": routing.savings_share,
        },
        "context": {
            "buffer": context.buffer,
            "current_window": context.current_window,
            "recommended_window": context.recommended_window,
            "window_reduction": context.window_reduction,
            "truncated_requests": context.truncated_requests,
            "truncated_share": context.truncated_share,
            "tokens_cut": context.tokens_cut,
            "monthly_tokens_cut": context.monthly_tokens_cut,
            "monthly_savings_usd": context.monthly_savings_usd,
            "kv_bytes_per_token": context.kv_bytes_per_token,
            "kv_gib_freed_per_sequence": kv / GIB if kv is not None else None,
            "types": [
                {
                    "request_type": t.request_type,
                    "requests": t.requests,
                    "total_p95_tokens": t.total_p95_tokens,
                    "total_max_tokens": t.total_max_tokens,
                    "recommended_window": t.recommended_window,
                    "truncated_requests": t.truncated_requests,
                    "truncated_share": t.truncated_share,
                    "tokens_cut": t.tokens_cut,
                    "monthly_savings_usd": (
                        t.tokens_cut * profile.monthly_factor * report.current.input_usd_per_1m / 1_000_000
                    ),
                }
                for t in context.types
            ],
        },
        "efficiency": {
            "long_input_tokens": efficiency.long_input_tokens,
            "short_output_tokens": efficiency.short_output_tokens,
            "long_short_requests": efficiency.long_short_requests,
            "long_short_input_tokens": efficiency.long_short_input_tokens,
            "excess_input_tokens": efficiency.excess_input_tokens,
            "monthly_excess_input_tokens": efficiency.monthly_excess_tokens,
            "monthly_trim_savings_usd": efficiency.monthly_trim_savings_usd,
            "monthly_cache_savings_usd": efficiency.monthly_cache_savings_usd,
            "findings": list(efficiency.findings),
            "types": [
                {
                    "request_type": t.request_type,
                    "requests": t.requests,
                    "long_short_requests": t.long_short_requests,
                    "long_short_share": t.long_short_share,
                    "long_short_input_share": t.long_short_input_share,
                    "excess_input_tokens": t.excess_input_tokens,
                    "context_cv": t.context_cv,
                    "generated_cv": t.generated_cv,
                    "cacheable_share": t.cacheable_share,
                }
                for t in efficiency.types
            ],
        },
        "rag": (
            {"note": report.rag}
            if isinstance(report.rag, str)
            else {
                "types": [
                    {
                        "request_type": r.request_type,
                        "recommended_top_k": r.recommended_top_k,
                        "suggested_chunk_tokens": r.suggested_chunk_tokens,
                        "tokens_saved_per_request": r.tokens_saved_per_request,
                        "monthly_tokens_saved": r.monthly_tokens_saved,
                        "monthly_savings_usd": r.monthly_savings_usd,
                    }
                    for r in report.rag
                ]
            }
        ),
    }


def _usd(value: float | None) -> str:
    return f"${value:,.0f}" if value is not None else "n/a"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def render(report: ApplicationReport) -> str:
    profile, routing, context, efficiency = report.profile, report.routing, report.context, report.efficiency
    current, cheap = report.current, report.cheap
    lines = [
        f"Request log {Path(report.source).name} ({report.log_format}): {profile.requests:,} requests over "
        f"{profile.duration_s / 60:,.1f} min ({profile.start:%Y-%m-%d %H:%M:%S} to {profile.end:%H:%M:%S} "
        f"UTC), x{profile.monthly_factor:,.1f} to a 30-day month",
        f"Prices (per 1M input/output tokens, as of {report.prices.as_of}): {current.name} "
        f"${current.input_usd_per_1m:.2f}/${current.output_usd_per_1m:.2f}, {cheap.name} "
        f"${cheap.input_usd_per_1m:.2f}/${cheap.output_usd_per_1m:.2f}",
        "",
        *_table(
            [
                ["type", "requests", "prompt p50/p95/max", "output p50/p95/max", "errors"],
                *(
                    [
                        t.request_type,
                        f"{t.requests:,}",
                        f"{t.context.p50:,}/{t.context.p95:,}/{t.context.max:,}",
                        f"{t.generated.p50:,}/{t.generated.p95:,}/{t.generated.max:,}",
                        f"{t.error_share:.1%}",
                    ]
                    for t in profile.types
                ),
            ]
        ),
        "",
        "Model routing, decided on request type and prompt length: at most "
        f"{routing.rule.max_long_share:.0%} of a route's requests answer in over "
        f"{routing.rule.max_generated_tokens} tokens (95% confidence), "
        f"all fit {cheap.name}'s {routing.window_tokens:,}-token window",
        *(
            f"  {t.request_type}: "
            + (
                f"prompts <= {t.prompt_limit:,} tokens, {t.routed_requests:,} of {t.requests:,} requests, "
                f"{t.long_share:.1%} long answers (<= {t.long_share_upper:.1%})"
                if t.prompt_limit is not None
                else "no route"
            )
            + f"; {t.reason}"
            + (f"; quality sample: {t.quality.value}, {t.worse} of {t.compared} worse" if t.compared else "")
            + (f", {t.more_to_confirm:,} more with no worse answer confirm it" if t.more_to_confirm else "")
            for t in routing.types
        ),
        f"  routed to {cheap.name}: {routing.share:.2%} of requests ({routing.routed_requests:,} of "
        f"{routing.requests:,}), {routing.routed_input_share:.1%} of input tokens",
        f"  all on {current.name}: {_usd(routing.monthly_cost_current_usd)}/month",
        f"  split: {_usd(routing.monthly_cost_split_current_usd)} on {current.name} + "
        f"{_usd(routing.monthly_cost_split_cheap_usd)} on {cheap.name} = "
        f"{_usd(routing.monthly_cost_split_usd)}/month",
        f"  savings: at most {_usd(routing.monthly_savings_upper_bound_usd)}/month "
        f"({routing.savings_share:.1%}); confirmed by a quality sample: "
        f"{_usd(routing.monthly_savings_confirmed_usd)}/month"
        + (
            ""
            if routing.confirmed
            else f" (a route is confirmed by {routing.rule.quality_sample_requests} comparisons with no "
            "worse answer, --quality)"
        ),
        "",
        f"Context right-sizing: p95 of prompt + output, +{context.buffer:.0%}, rounded up to 256 tokens",
        *_table(
            [
                ["type", "p95", "max", "recommended", "current", "over", "tokens cut/month", "savings/month"],
                *(
                    [
                        t.request_type,
                        f"{t.total_p95_tokens:,}",
                        f"{t.total_max_tokens:,}",
                        f"{t.recommended_window:,}",
                        f"{context.current_window:,}",
                        f"{t.truncated_share:.2%}",
                        f"{t.tokens_cut * profile.monthly_factor:,.0f}",
                        _usd(t.tokens_cut * profile.monthly_factor * current.input_usd_per_1m / 1_000_000),
                    ]
                    for t in context.types
                ),
            ]
        ),
        f"  window {context.current_window:,} -> {context.recommended_window:,} tokens "
        f"(-{context.window_reduction:.1%}): {context.truncated_share:.2%} of requests over it, "
        f"{_usd(context.monthly_savings_usd)}/month of input cut",
        "  worst-case KV cache per sequence: "
        + (
            f"{context.kv_bytes_freed_per_sequence / GIB:,.2f} GiB smaller"
            if context.kv_bytes_freed_per_sequence is not None
            else f"n/a ({current.name}'s architecture is not in the capacity model)"
        ),
        "",
        f"Prompt efficiency: prompt > {efficiency.long_input_tokens:,} tokens with output <= "
        f"{efficiency.short_output_tokens} tokens",
        *(f"  {finding}" for finding in efficiency.findings),
        f"  trimming those prompts to {efficiency.long_input_tokens:,} tokens: "
        f"{efficiency.monthly_excess_tokens / 1e6:,.0f}M input tokens/month, "
        f"{_usd(efficiency.monthly_trim_savings_usd)}/month (an upper bound; overlaps with routing)",
        "",
        "RAG tuning: "
        + (
            report.rag.removeprefix("no RAG tuning: ")
            if isinstance(report.rag, str)
            else "; ".join(
                f"{r.request_type}: top-k {r.mean_chunks_retrieved:g} -> {r.recommended_top_k}, "
                f"{_usd(r.monthly_savings_usd)}/month"
                for r in report.rag
            )
        ),
    ]
    return "\n".join(lines)
