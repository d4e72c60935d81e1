"""The Application agent's analysis of a workload snapshot: proposals from its request-log profile, a
vLLM step for context right-sizing on a Kubernetes Deployment, advice for the rest."""

from datetime import UTC, datetime, timedelta

import pytest

from agents.application.profile import profile_requests
from agents.application.strategies import ApplicationSettings, analyze_application
from optiinfra.application.model_prices import ModelPriceTable
from optiinfra.domain.application import ApplicationProfile
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.fleet import Customer, Workload, WorkloadSnapshot
from optiinfra.domain.recommendation import Proposal
from optiinfra.privacy.aggregates import RagRetrievalStats
from optiinfra.privacy.records import QualityComparison
from tests.agents.application.records import START, comparisons, records
from tests.agents.performance.snapshots import MODEL, kube_snapshot

PRICES = ModelPriceTable.load_default()
SHAPES = [(3000, 5), (5000, 12), (1500, 30), (900, 400), (6000, 8), (200, 3)] * 10
"""60 requests a minute apart: long prompts with short answers, a few long answers."""


def _profile(**extra: object) -> ApplicationProfile:
    return profile_requests(records(SHAPES), **extra)  # type: ignore[arg-type]


def api_snapshot(model: str = "gpt-4o", profile: ApplicationProfile | None = None) -> WorkloadSnapshot:
    return WorkloadSnapshot(
        customer=Customer(customer_id="acme", name="Acme"),
        workload=Workload(
            customer_id="acme", workload_id="coder", name="coder", model_name=model, region="us-east-1"
        ),
        instances=[],
        instance_types={},
        series=[],
        collected_at=datetime(2026, 3, 3, tzinfo=UTC),
        application=profile,
    )


def test_without_a_request_log_there_is_nothing_to_analyze() -> None:
    result = analyze_application(api_snapshot())
    assert result.proposals == []
    assert result.notes and "no request log for coder" in result.notes[0]


def _routable_profile() -> ApplicationProfile:
    """The chat log plus 100 `classify` requests (short prompts, short answers) over the same hour."""
    return profile_requests(
        records(SHAPES) + records([(800, 6)] * 100, request_type="classify", step_s=35.0, offset_s=1.0)
    )


def test_an_api_workload_gets_advice_ranked_by_savings() -> None:
    profile = _routable_profile()
    result = analyze_application(api_snapshot(profile=profile), PRICES)
    kinds = [p.type for p in result.proposals]
    assert set(kinds) == {
        RecommendationType.MODEL_ROUTING,
        RecommendationType.CONTEXT_RIGHT_SIZING,
        RecommendationType.PROMPT_EFFICIENCY,
    }
    savings = [p.estimated_monthly_savings_usd for p in result.proposals]
    assert savings == sorted(savings, reverse=True)
    for proposal in result.proposals:
        assert proposal.agent is AgentKind.APPLICATION
        assert proposal.steps == []  # no Deployment: the application team applies everything
        assert "application team" in proposal.reasoning
    routing = next(p for p in result.proposals if p.type is RecommendationType.MODEL_ROUTING)
    # The router knows the request type: every classify request answers short, and 100 of them put the
    # long-answer share under 5% at 95% confidence; chat's prompts carry 400-token answers one time in six.
    assert routing.evidence["routed_share"] == pytest.approx(100 / 160, abs=1e-4)
    assert routing.evidence["prompt_limit_tokens.classify"] == 1024.0
    assert "prompt_limit_tokens.chat" not in routing.evidence
    assert routing.evidence["cheap_model"] == "gpt-4o-mini"
    assert routing.evidence["quality_sample_requests"] == 73.0
    gpt4o, mini = PRICES.get("gpt-4o"), PRICES.get("gpt-4o-mini")
    factor = profile.monthly_factor
    all_current = gpt4o.cost_usd(profile.input_tokens, profile.output_tokens) * factor
    routed_in, routed_out = 100 * 800, 100 * 6
    split = (
        gpt4o.cost_usd(profile.input_tokens - routed_in, profile.output_tokens - routed_out)
        + mini.cost_usd(routed_in, routed_out)
    ) * factor
    # The split's savings are an upper bound until a quality sample confirms them: no savings are counted.
    assert routing.evidence["savings_upper_bound_usd_month"] == pytest.approx(all_current - split, abs=0.01)
    assert routing.current_monthly_cost_usd == pytest.approx(all_current)
    assert routing.projected_monthly_cost_usd == routing.current_monthly_cost_usd
    assert routing.estimated_monthly_savings_usd == 0.0
    assert "upper bound" in routing.reasoning and "chat: no route" in routing.reasoning
    context = next(p for p in result.proposals if p.type is RecommendationType.CONTEXT_RIGHT_SIZING)
    # p95 of prompt + output is 6,008 tokens -> 6,609 -> 6,656 (26 blocks of 256), from gpt-4o's 128,000.
    assert context.evidence["recommended_window_tokens"] == 6656.0
    assert context.evidence["current_window_tokens"] == 128_000.0
    assert context.risk_level is RiskLevel.LOW and context.estimated_monthly_savings_usd == 0.0
    assert any("priced as gpt-4o" in note for note in result.notes)
    assert any("no tier-2 retrieval statistics" in note for note in result.notes)


def _routing_with(sample: list[QualityComparison]) -> Proposal:
    log = records(SHAPES) + records([(800, 6)] * 100, request_type="classify", step_s=35.0, offset_s=1.0)
    profile = profile_requests(log, quality=sample)
    result = analyze_application(api_snapshot(profile=profile), PRICES)
    return next(p for p in result.proposals if p.type is RecommendationType.MODEL_ROUTING)


def test_a_confirming_quality_sample_turns_the_routing_bound_into_savings() -> None:
    unconfirmed = _routing_with([])
    bound = unconfirmed.evidence["savings_upper_bound_usd_month"]
    confirmed = _routing_with(comparisons(0, 80, request_type="classify", cheap_model="gpt-4o-mini"))
    assert confirmed.estimated_monthly_savings_usd == pytest.approx(bound, abs=0.01)
    assert confirmed.projected_monthly_cost_usd == pytest.approx(
        confirmed.current_monthly_cost_usd - confirmed.estimated_monthly_savings_usd
    )
    assert confirmed.confidence > unconfirmed.confidence
    assert "confirmed by a quality sample" in confirmed.title
    assert confirmed.evidence["quality_sample.classify"] == "confirmed (0/80)"


def test_a_refuting_quality_sample_ends_the_route() -> None:
    log = records(SHAPES) + records([(800, 6)] * 100, request_type="classify", step_s=35.0, offset_s=1.0)
    sample = comparisons(15, 65, request_type="classify", cheap_model="gpt-4o-mini")
    result = analyze_application(api_snapshot(profile=profile_requests(log, quality=sample)), PRICES)
    assert RecommendationType.MODEL_ROUTING not in [p.type for p in result.proposals]
    assert any("classify: a quality sample refuted it: 15 of 80" in note for note in result.notes)


def test_a_cheaper_model_can_be_chosen() -> None:
    result = analyze_application(
        api_snapshot(profile=_routable_profile()), PRICES, ApplicationSettings(cheap_model="gpt-4.1-nano")
    )
    routing = next(p for p in result.proposals if p.type is RecommendationType.MODEL_ROUTING)
    assert routing.evidence["cheap_model"] == "gpt-4.1-nano"
    missing = analyze_application(
        api_snapshot(profile=_profile()), PRICES, ApplicationSettings(cheap_model="no-such-model")
    )
    assert any("'no-such-model' is not in the price table" in note for note in missing.notes)


def test_on_a_deployment_context_right_sizing_is_advice_that_leaves_the_window_to_clients() -> None:
    """Lowering --max-model-len to the p95-based window would fail at the server every longer request the
    application has not cut yet (tomorrow's, if none in the log), and frees no KV memory: the window is the
    application's to apply."""
    args = ["--model", MODEL, "--max-num-seqs", "256", "--max-model-len", "32768"]
    snapshot = kube_snapshot(replicas=2, mean_rps=1.0, amplitude_rps=0.5, args=args)
    snapshot = snapshot.model_copy(update={"application": _profile()})
    result = analyze_application(snapshot, PRICES)
    context = next(p for p in result.proposals if p.type is RecommendationType.CONTEXT_RIGHT_SIZING)
    assert context.steps == []
    assert context.evidence["recommended_window_tokens"] == 6656.0
    assert context.evidence["current_window_tokens"] == 32768.0
    assert "--max-model-len stays at 32,768" in context.reasoning
    # The served Llama-3.1-8B is priced at the table's hosted price through its Hugging Face alias, and
    # its KV cache per token (128 KiB) gives the memory the smaller window frees.
    assert context.evidence["kv_gib_freed_per_sequence"] == pytest.approx(
        (32768 - 6656) * 131_072 / 2**30, abs=1e-3
    )
    # The table names no cheaper model than the 8B: routing says so instead of proposing.
    assert not any(p.type is RecommendationType.MODEL_ROUTING for p in result.proposals)
    assert any("no cheaper model for llama-3.1-8b-instruct" in note for note in result.notes)


def test_a_model_without_a_price_gets_token_figures_only() -> None:
    snapshot = kube_snapshot(
        replicas=2, mean_rps=1.0, amplitude_rps=0.5, args=["--model", "private", "--max-model-len", "16384"]
    )
    snapshot = snapshot.model_copy(
        update={
            "application": _profile(),
            "workload": snapshot.workload.model_copy(update={"model_name": "acme/private-model"}),
        }
    )
    result = analyze_application(snapshot, PRICES)
    assert any("acme/private-model is not in the price table" in note for note in result.notes)
    kinds = {p.type for p in result.proposals}
    assert kinds == {RecommendationType.CONTEXT_RIGHT_SIZING, RecommendationType.PROMPT_EFFICIENCY}
    assert all(p.estimated_monthly_savings_usd == 0.0 for p in result.proposals)
    assert all(p.current_monthly_cost_usd == 0.0 for p in result.proposals)
    context = next(p for p in result.proposals if p.type is RecommendationType.CONTEXT_RIGHT_SIZING)
    assert context.steps == [] and "kv_gib_freed_per_sequence" not in context.evidence
    assert any("no model routing" in note for note in result.notes)


def test_tier_2_retrieval_statistics_give_a_rag_proposal() -> None:
    stats = RagRetrievalStats(
        request_type="chat",
        period_start=START,
        period_end=START + timedelta(hours=1),
        requests=60,
        chunk_tokens=600,
        mean_chunks_retrieved=8.0,
        mean_chunks_used=2.0,
        relevance_by_rank=[0.9, 0.7, 0.55, 0.4, 0.3, 0.2, 0.1, 0.1],
    )
    result = analyze_application(api_snapshot(profile=_profile(rag=[stats])), PRICES)
    rag = next(p for p in result.proposals if p.type is RecommendationType.RAG_TUNING)
    assert rag.steps == [] and rag.evidence["recommended_top_k"] == 3.0
    # (8 - 3) chunks x 600 tokens x 60 requests an hour x 720 hours, at gpt-4o's $2.50 per 1M input tokens.
    assert rag.estimated_monthly_savings_usd == pytest.approx(5 * 600 * 60 * 720 * 2.5 / 1e6)
    assert "chunks 600 -> 300 tokens" in rag.title
