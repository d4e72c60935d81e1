"""The Application agent's analysis of one workload's requests: context-window right-sizing, model routing,
prompt efficiency and (tier 2+) RAG tuning, ranked by monthly savings.

Only context right-sizing is executed by OptiInfra, and only for a workload served by a Kubernetes
Deployment: a rolling update of vLLM's `--max-model-len`, compensated by rolling the previous arguments
back. Routing, prompt and retrieval changes live in the application's own code (its gateway, prompt
templates, retriever): those proposals are advice with no steps, for the application team to apply.

Dollar figures are the workload's tokens at the price table's list price for its model (matched on name or
alias). A self-hosted model the table lists (the Llama entries carry the Hugging Face ids vLLM serves) is
priced at the listed provider's price: what those tokens cost on the market, not the GPU bill, which the
Cost agent owns. A model the table does not list gets token figures only, with a note, and no routing.

The app <-> infra loop: asked by the Resource agent to cut context (memory pressure), the context and
prompt-trimming proposals come first and cite the request, and any reduction of the window is proposed;
when the requests need a longer window than the Deployment's `--max-model-len` admits, the analysis asks
the Resource agent for the KV capacity."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.application.context import (
    DEFAULT_BUFFER,
    ContextRightSizing,
    recommended_window,
    right_size_context,
)
from agents.application.efficiency import NOTABLE_INPUT_SHARE, PromptEfficiency, analyze_prompt_efficiency
from agents.application.rag import RagTuning, analyze_rag
from agents.application.routing import (
    QualityStatus,
    RoutingAnalysis,
    RoutingRule,
    TypeRouting,
    analyze_routing,
)
from optiinfra.application.model_prices import ModelPrice, ModelPriceTable
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.application import ApplicationProfile
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult, Proposal
from optiinfra.kube.vllm_args import positive_int_flag

MIN_WINDOW_REDUCTION = 0.1
"""A window is worth changing when the recommendation is at least this much smaller than the current one."""
ADVICE = "The application team applies it in its own code; OptiInfra changes nothing itself."
SAVINGS_UPPER_BOUND = "savings_upper_bound_usd_month"
"""Evidence key of what an unconfirmed proposal may save at most; it ranks proposals that count none."""


@dataclass(frozen=True)
class ApplicationSettings:
    context_buffer: float = DEFAULT_BUFFER
    routing: RoutingRule = field(default_factory=RoutingRule)
    cheap_model: str | None = None
    """The model routing moves requests to; None: the current model's `cheaper_model` in the table."""


DEFAULT_SETTINGS = ApplicationSettings()


@dataclass(frozen=True)
class _Pricing:
    current: ModelPrice | None
    monthly_cost_usd: float


def _describe(profile: ApplicationProfile) -> str:
    types = ", ".join(
        f"{t.request_type} {t.requests:,} (prompt p50 {t.context.p50:,} / p95 {t.context.p95:,}, output p50 "
        f"{t.generated.p50:,} / p95 {t.generated.p95:,} tokens)"
        for t in profile.types
    )
    return f"Request log: {profile.requests:,} requests over {profile.duration_s / 60:,.1f} minutes: {types}"


def _context_proposal(
    snapshot: WorkloadSnapshot, sizing: ContextRightSizing, pricing: _Pricing, asked: AgentRequest | None
) -> Proposal:
    deployment = snapshot.deployment
    savings = sizing.monthly_savings_usd or 0.0
    per_type = "; ".join(
        f"{t.request_type}: p95 {t.total_p95_tokens:,} tokens (max {t.total_max_tokens:,}) -> "
        f"{t.recommended_window:,}, {t.truncated_share:.1%} over"
        for t in sizing.types
    )
    over = (
        f"{sizing.truncated_share:.1%} of requests ({sizing.truncated_requests:,} in the log) are longer and "
        f"must be cut or summarised before they are sent, {sizing.tokens_cut:,} tokens in the log"
        if sizing.truncated_requests
        else "no request of the log is longer"
    )
    kv = sizing.kv_bytes_freed_per_sequence
    memory = (
        f" The most KV cache one sequence can hold shrinks by {kv / 2**30:.2f} GiB." if kv is not None else ""
    )
    if deployment is not None:
        how = (
            f"The application caps prompt plus output at the window, cutting or summarising the longer "
            f"requests before it sends them; the Deployment's --max-model-len stays at "
            f"{sizing.current_window:,}: vLLM refuses a request longer than its window, so lowering it "
            "would fail the requests the application has not cut yet, and frees no KV memory (vLLM "
            f"allocates blocks as sequences grow). {ADVICE}"
        )
    else:
        how = f"The application caps prompt plus output at the window. {ADVICE}"
    return Proposal(
        agent=AgentKind.APPLICATION,
        type=RecommendationType.CONTEXT_RIGHT_SIZING,
        title=(
            f"Right-size the context window of {snapshot.workload.name}: {sizing.current_window:,} -> "
            f"{sizing.recommended_window:,} tokens"
        ),
        reasoning=(
            (f"Asked by the {asked.from_agent.value} agent to cut context: {asked.reason}. " if asked else "")
            + "Per request type, the p95 of prompt plus output tokens plus "
            f"{sizing.buffer:.0%}, rounded up to "
            f"a 256-token multiple: {per_type}. At {sizing.recommended_window:,} tokens {over}.{memory} {how}"
        ),
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=pricing.monthly_cost_usd,
        projected_monthly_cost_usd=pricing.monthly_cost_usd - savings,
        confidence=0.7,
        risk_level=RiskLevel.LOW if sizing.truncated_requests == 0 else RiskLevel.MEDIUM,
        steps=[],
        evidence={
            "current_window_tokens": float(sizing.current_window),
            "recommended_window_tokens": float(sizing.recommended_window),
            "truncated_share": round(sizing.truncated_share, 4),
            "monthly_tokens_cut": round(sizing.monthly_tokens_cut),
            **({"kv_gib_freed_per_sequence": round(kv / 2**30, 3)} if kv is not None else {}),
        },
    )


def _sample_text(route: TypeRouting, rule: RoutingRule) -> str:
    if route.quality is QualityStatus.UNSAMPLED:
        return "no quality sample yet"
    judged = f"{route.worse} of {route.compared} compared answers judged worse"
    if route.quality is QualityStatus.CONFIRMED:
        return f"confirmed: {judged}, at most {route.worse_share_upper:.1%} at 95% confidence"
    more = (
        f"{route.more_to_confirm:,} more comparisons with no worse answer would confirm it"
        if route.more_to_confirm is not None
        else "no sample of a practical size would confirm it"
    )
    return (
        f"pending: {judged}, up to {route.worse_share_upper:.1%} against {rule.max_worse_share:.0%}; {more}"
    )


def _route_text(route: TypeRouting, rule: RoutingRule) -> str:
    if route.prompt_limit is None:
        return f"{route.request_type}: no route ({route.reason})"
    return (
        f"{route.request_type} prompts of at most {route.prompt_limit:,} tokens: "
        f"{route.routed_requests:,} of {route.requests:,} requests, {route.long_share:.1%} of them answered "
        "in more than "
        f"{rule.max_generated_tokens} tokens (at most {route.long_share_upper:.1%} at 95% confidence); "
        f"{route.reason}; ${route.monthly_savings_usd:,.0f}/month, {_sample_text(route, rule)}"
    )


def _routing_title(snapshot: WorkloadSnapshot, routing: RoutingAnalysis) -> str:
    moving = (
        f"Route {routing.share:.0%} of {snapshot.workload.name}'s requests from {routing.current_model} "
        f"to {routing.cheap_model} by request type and prompt length"
    )
    bound = routing.monthly_savings_upper_bound_usd
    confirmed = routing.monthly_savings_confirmed_usd
    if routing.confirmed:
        return f"{moving} (${confirmed:,.0f}/month, confirmed by a quality sample)"
    if confirmed > 0:
        return f"{moving} (${confirmed:,.0f}/month confirmed by a quality sample, up to ${bound:,.0f} in all)"
    return f"{moving} (up to ${bound:,.0f}/month once a quality sample confirms it)"


def _routing_proposal(snapshot: WorkloadSnapshot, routing: RoutingAnalysis) -> Proposal:
    rule = routing.rule
    routes = "; ".join(_route_text(route, rule) for route in routing.types)
    bound = routing.monthly_savings_upper_bound_usd
    confirmed = routing.monthly_savings_confirmed_usd
    counted = (
        "Every route is confirmed by a quality sample, so the savings count."
        if routing.confirmed
        else f"${confirmed:,.0f}/month of it is confirmed by a quality sample and counts as savings; the "
        "rest is an upper bound, counted as no savings until a quality sample confirms it: answer "
        f"{rule.quality_sample_requests} of each unconfirmed route's requests with both models, judge each "
        "cheaper answer no worse or worse, and send the verdicts (POST .../quality-comparisons); with no "
        f"worse answer among them, the share of worse answers is at most {rule.max_worse_share:.0%} at 95% "
        "confidence."
    )
    return Proposal(
        agent=AgentKind.APPLICATION,
        type=RecommendationType.MODEL_ROUTING,
        title=_routing_title(snapshot, routing),
        reasoning=(
            "A router decides before the answer exists, on the request type the client declares and the "
            f"prompt's length. Routes: {routes}. The length bound: at most {rule.max_long_share:.0%} of a "
            f"route's requests needed an answer longer than {rule.max_generated_tokens} tokens, where a "
            f"smaller model's answers drift furthest from a larger one's, at 95% confidence over at least "
            f"{rule.min_requests} requests; every routed request fits {routing.cheap_model}'s "
            f"{routing.window_tokens:,}-token window. All on {routing.current_model} costs "
            f"${routing.monthly_cost_current_usd:,.0f}/month; split, "
            f"${routing.monthly_cost_split_current_usd:,.0f} stays on {routing.current_model} and "
            f"${routing.monthly_cost_split_cheap_usd:,.0f} goes to "
            f"{routing.cheap_model}: ${bound:,.0f}/month at most. {counted} {ADVICE}"
        ),
        estimated_monthly_savings_usd=confirmed,
        current_monthly_cost_usd=routing.monthly_cost_current_usd,
        projected_monthly_cost_usd=routing.monthly_cost_current_usd - confirmed,
        confidence=0.8 if routing.confirmed else 0.5,
        risk_level=RiskLevel.MEDIUM,
        steps=[],
        evidence={
            "routed_share": round(routing.share, 4),
            "routed_long_answer_share": round(routing.long_share, 4),
            "routed_input_share": round(routing.routed_input_share, 4),
            "cheap_model": routing.cheap_model,
            "max_generated_tokens": float(rule.max_generated_tokens),
            "quality_bound_long_share": rule.max_long_share,
            "quality_bound_worse_share": rule.max_worse_share,
            "quality_sample_requests": float(rule.quality_sample_requests),
            "savings_confirmed_usd_month": round(confirmed, 2),
            SAVINGS_UPPER_BOUND: round(bound, 2),
            **{
                f"prompt_limit_tokens.{route.request_type}": float(route.prompt_limit)
                for route in routing.types
                if route.prompt_limit is not None
            },
            **{
                f"quality_sample.{route.request_type}": (
                    f"{route.quality.value} ({route.worse}/{route.compared})"
                )
                for route in routing.types
                if route.quality is not QualityStatus.UNSAMPLED
            },
        },
    )


def _efficiency_proposal(
    snapshot: WorkloadSnapshot, efficiency: PromptEfficiency, pricing: _Pricing
) -> Proposal:
    savings = (efficiency.monthly_trim_savings_usd or 0.0) + (efficiency.monthly_cache_savings_usd or 0.0)
    return Proposal(
        agent=AgentKind.APPLICATION,
        type=RecommendationType.PROMPT_EFFICIENCY,
        title=f"Trim the long prompts of {snapshot.workload.name}'s short-answer requests",
        reasoning=(
            "; ".join(efficiency.findings)
            + f". Trimming is an upper bound to check against answer quality; it overlaps with routing (a "
            f"request moved to a cheaper model saves less by trimming). {ADVICE}"
        ),
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=pricing.monthly_cost_usd,
        projected_monthly_cost_usd=pricing.monthly_cost_usd - savings,
        confidence=0.4,
        risk_level=RiskLevel.MEDIUM,
        steps=[],
        evidence={
            "long_short_requests": float(efficiency.long_short_requests),
            "long_short_input_share": round(
                efficiency.long_short_input_tokens / efficiency.input_tokens
                if efficiency.input_tokens
                else 0.0,
                4,
            ),
            "monthly_excess_input_tokens": round(efficiency.monthly_excess_tokens),
        },
    )


def _rag_proposal(snapshot: WorkloadSnapshot, tuning: RagTuning, pricing: _Pricing) -> Proposal:
    savings = tuning.monthly_savings_usd or 0.0
    changes: list[str] = []
    if tuning.tokens_saved_per_request > 0:
        changes.append(f"top-k {tuning.mean_chunks_retrieved:g} -> {tuning.recommended_top_k}")
    if tuning.suggested_chunk_tokens is not None:
        changes.append(f"chunks {tuning.chunk_tokens} -> {tuning.suggested_chunk_tokens} tokens")
    ranks = (
        f"mean relevance stays at or above the threshold for the first {tuning.relevant_ranks} ranks"
        if tuning.relevant_ranks is not None
        else "no relevance scores by rank"
    )
    return Proposal(
        agent=AgentKind.APPLICATION,
        type=RecommendationType.RAG_TUNING,
        title=f"Tune retrieval of {snapshot.workload.name}/{tuning.request_type}: " + ", ".join(changes),
        reasoning=(
            f"{tuning.request_type}: {tuning.mean_chunks_retrieved:g} chunks of {tuning.chunk_tokens} tokens "
            f"retrieved per request, {tuning.mean_chunks_used:g} used ({tuning.use_ratio:.0%}); {ranks}. "
            f"Retrieving {tuning.recommended_top_k} saves {tuning.tokens_saved_per_request:,.0f} input "
            f"tokens per request ({tuning.monthly_tokens_saved:,.0f} a month)."
            + (
                " Most of each large chunk goes unused: smaller chunks let retrieval pass the relevant "
                "passage alone."
                if tuning.suggested_chunk_tokens is not None
                else ""
            )
            + f" {ADVICE}"
        ),
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=pricing.monthly_cost_usd,
        projected_monthly_cost_usd=pricing.monthly_cost_usd - savings,
        confidence=0.5,
        risk_level=RiskLevel.MEDIUM,
        steps=[],
        evidence={
            "recommended_top_k": float(tuning.recommended_top_k),
            "use_ratio": round(tuning.use_ratio, 4),
            "monthly_tokens_saved": round(tuning.monthly_tokens_saved),
        },
    )


def _context(
    snapshot: WorkloadSnapshot,
    profile: ApplicationProfile,
    pricing: _Pricing,
    settings: ApplicationSettings,
    asked: AgentRequest | None,
    flag: int | None,
) -> Proposal | str:
    """`flag`: the Deployment's `--max-model-len`, when it sets one."""
    current = pricing.current
    window = flag or (current.max_context_tokens if current is not None else None)
    if window is None:
        return (
            "no context right-sizing: the current window is unknown (no --max-model-len, and the model is "
            "not in the price table)"
        )
    sizing = right_size_context(profile, window, buffer=settings.context_buffer, price=current)
    # Under memory pressure any reduction is worth a rollout; otherwise only a marked one.
    enough = sizing.changes if asked is not None else sizing.window_reduction >= MIN_WINDOW_REDUCTION
    if not enough:
        return (
            f"no context right-sizing: the {sizing.current_window:,}-token window already fits the requests "
            f"(recommended {sizing.recommended_window:,})"
            + (f", though the {asked.from_agent.value} agent asked to cut context" if asked else "")
        )
    return _context_proposal(snapshot, sizing, pricing, asked)


def kv_capacity_request(
    profile: ApplicationProfile,
    settings: ApplicationSettings,
    flag: int | None,
    model_limit: int | None = None,
) -> AgentRequest | None:
    """Ask the Resource agent for KV capacity when clients send requests longer than the Deployment's
    `--max-model-len` (`flag`) admits: for a window that holds the longest request of the log plus the
    buffer, never more than the model's own context (`model_limit`, when known) and never less than
    what clients send."""
    if flag is None:
        return None
    longest_type = max(profile.types, key=lambda t: t.total.max)
    longest = longest_type.total.max
    if longest <= flag:
        return None
    needed = recommended_window(longest, settings.context_buffer)
    if model_limit is not None:
        needed = min(needed, model_limit)  # never less than `longest` unless the model cannot take it
    if needed <= flag:
        return None
    return AgentRequest(
        kind=AgentRequestKind.ADD_KV_CAPACITY,
        from_agent=AgentKind.APPLICATION,
        reason=(
            f"{longest_type.request_type} requests reach {longest:,} tokens (prompt plus output); a "
            f"{needed:,}-token window holds them with {settings.context_buffer:.0%} to spare, but the "
            f"replicas admit {flag:,} tokens"
        ),
        context_tokens=needed,
    )


def _routing(
    snapshot: WorkloadSnapshot,
    profile: ApplicationProfile,
    pricing: _Pricing,
    prices: ModelPriceTable,
    settings: ApplicationSettings,
) -> Proposal | str:
    current = pricing.current
    if current is None:
        return "no model routing: the workload's model has no price to compare a cheaper model's with"
    name = settings.cheap_model or current.cheaper_model
    cheap = prices.find(name) if name is not None else None
    if cheap is None:
        return f"no model routing: no cheaper model for {current.name} " + (
            f"({name!r} is not in the price table)" if name is not None else "in the price table"
        )
    routing = analyze_routing(profile, current, cheap, settings.routing)
    if routing.routed_requests == 0 or routing.monthly_savings_upper_bound_usd <= 0:
        return (
            "no model routing: " + "; ".join(f"{t.request_type}: {t.reason}" for t in routing.types)
            if routing.routed_requests == 0
            else f"no model routing: {cheap.name} is not cheaper than {current.name} for these requests"
        )
    return _routing_proposal(snapshot, routing)


def _efficiency(snapshot: WorkloadSnapshot, profile: ApplicationProfile, pricing: _Pricing) -> Proposal | str:
    efficiency = analyze_prompt_efficiency(profile, pricing.current)
    notable = any(
        t.long_short_requests and t.long_short_input_share >= NOTABLE_INPUT_SHARE for t in efficiency.types
    )
    cacheable = any(t.cacheable_share for t in efficiency.types)
    if not notable and not cacheable:
        return (
            f"no prompt-efficiency change: long prompts (over {efficiency.long_input_tokens:,} tokens) with "
            f"short answers (at most {efficiency.short_output_tokens}) carry under {NOTABLE_INPUT_SHARE:.0%} "
            "of every request type's input"
            + ("; " + "; ".join(efficiency.findings) if efficiency.findings else "")
        )
    return _efficiency_proposal(snapshot, efficiency, pricing)


def analyze_application(
    snapshot: WorkloadSnapshot,
    prices: ModelPriceTable | None = None,
    settings: ApplicationSettings = DEFAULT_SETTINGS,
    requests: Sequence[AgentRequest] = (),
) -> AnalysisResult:
    """Proposals ranked by monthly savings, then by the savings an unconfirmed one may reach (context cuts
    first when another agent asked for them), with
    notes on the strategies that found nothing. `prices`: the bundled price table unless given (the caller
    passes the one `model_price_table` configures). `requests`: what other agents asked of this one."""
    asked = next((r for r in requests if r.kind is AgentRequestKind.REDUCE_CONTEXT), None)
    profile = snapshot.application
    workload = snapshot.workload
    if profile is None:
        return AnalysisResult(
            notes=[
                f"no request log for {workload.workload_id}: the Application agent reads its tier-1 request "
                "log (token counts per request)"
            ]
        )
    prices = prices or ModelPriceTable.load_default()
    deployment = snapshot.deployment
    flag = positive_int_flag(deployment.args, "--max-model-len") if deployment is not None else None
    notes = [_describe(profile)]
    current = prices.find(workload.model_name)
    if current is None:
        notes.append(
            f"{workload.model_name} is not in the price table ({', '.join(prices.names)}): token figures "
            "only, no dollar figures"
        )
        pricing = _Pricing(None, 0.0)
    else:
        monthly = current.cost_usd(profile.input_tokens, profile.output_tokens) * profile.monthly_factor
        notes.append(
            f"priced as {current.name} at ${current.input_usd_per_1m:g}/${current.output_usd_per_1m:g} per "
            f"1M input/output tokens ({prices.source_of(current)}): ${monthly:,.0f}/month at the log's rate"
        )
        pricing = _Pricing(current, monthly)
    proposals: list[Proposal] = []
    found: list[Proposal | str] = [
        _context(snapshot, profile, pricing, settings, asked, flag),
        _routing(snapshot, profile, pricing, prices, settings),
        _efficiency(snapshot, profile, pricing),
    ]
    rag = analyze_rag(profile.rag, current)
    if isinstance(rag, str):
        found.append(rag)
    else:
        for tuning in rag:
            found.append(
                _rag_proposal(snapshot, tuning, pricing)
                if tuning.changes
                else f"no RAG tuning for {tuning.request_type}: it retrieves what its answers use"
            )
    for item in found:
        if isinstance(item, str):
            notes.append(item)
        else:
            proposals.append(item)
    cuts_context = {RecommendationType.CONTEXT_RIGHT_SIZING, RecommendationType.PROMPT_EFFICIENCY}
    proposals.sort(
        key=lambda p: (
            asked is not None and p.type not in cuts_context,
            -p.estimated_monthly_savings_usd,
            -float(p.evidence.get(SAVINGS_UPPER_BOUND, 0.0)),
        )
    )
    model_limit = pricing.current.max_context_tokens if pricing.current is not None else None
    capacity = kv_capacity_request(profile, settings, flag, model_limit)
    return AnalysisResult(proposals=proposals, notes=notes, requests=[capacity] if capacity else [])
