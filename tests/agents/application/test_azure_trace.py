"""The Application agent's analyzers on the real Azure LLM inference trace (coding assistant, 8,819
requests over 57 minutes): every figure read from the profile's histograms agrees with the same figure
computed straight from the records."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.application.context import right_size_context
from agents.application.efficiency import LONG_INPUT_TOKENS, SHORT_OUTPUT_TOKENS, analyze_prompt_efficiency
from agents.application.profile import profile_requests
from agents.application.routing import (
    DEFAULT_MAX_GENERATED_TOKENS,
    RoutingRule,
    analyze_routing,
    wilson_upper,
)
from agents.application.strategies import ApplicationSettings, analyze_application
from optiinfra.application.model_prices import ModelPriceTable
from optiinfra.application.request_log import read_request_log
from optiinfra.domain.application import SECONDS_PER_MONTH, ApplicationProfile
from optiinfra.domain.enums import RecommendationType
from optiinfra.privacy.records import TokenRecord
from tests.agents.application.test_strategies import api_snapshot

PRICES = ModelPriceTable.load_default()


@pytest.fixture(scope="module")
def trace(shared_data_dir: Path) -> list[TokenRecord]:
    path = shared_data_dir / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv"
    return list(read_request_log(path, model="gpt-4o"))


@pytest.fixture(scope="module")
def profile(trace: list[TokenRecord]) -> ApplicationProfile:
    return profile_requests(trace)


def test_the_trace_reads_as_tier_1_records(trace: list[TokenRecord]) -> None:
    assert len(trace) == 8819
    first = trace[0]
    assert first.at == datetime(2023, 11, 16, 18, 17, 3, 979960, tzinfo=UTC)
    assert (first.request_type, first.model, first.context_tokens, first.generated_tokens) == (
        "code",
        "gpt-4o",
        4808,
        10,
    )


def test_profile_matches_the_records(trace: list[TokenRecord], profile: ApplicationProfile) -> None:
    (code,) = profile.types
    assert code.request_type == "code" and code.requests == 8819 and code.errors == 0
    assert profile.duration_s == pytest.approx((trace[-1].at - trace[0].at).total_seconds())
    assert 56 * 60 < profile.duration_s < 58 * 60
    assert (code.context.p50, code.context.max) == (1469, 7437)
    assert (code.generated.p50, code.generated.p95) == (13, 90)
    assert code.context.sum == sum(r.context_tokens for r in trace)
    assert code.total.max == max(r.total_tokens for r in trace)


def test_routing_keys_on_the_prompt_and_holds_the_quality_bound(
    trace: list[TokenRecord], profile: ApplicationProfile
) -> None:
    current, cheap = PRICES.get("gpt-4o"), PRICES.get("gpt-4o-mini")
    long_answers = sum(r.generated_tokens > DEFAULT_MAX_GENERATED_TOKENS for r in trace)
    assert long_answers == 707  # 8.0% of the code requests need a long answer
    # Under the default 5% bound no prompt-length cut of the one request type qualifies: the trace's long
    # answers are spread over short and long prompts alike.
    for cut in (512, 1024, 2048, 4096):
        kept = [r for r in trace if r.context_tokens <= cut]
        assert sum(r.generated_tokens > DEFAULT_MAX_GENERATED_TOKENS for r in kept) / len(kept) > 0.05
    assert analyze_routing(profile, current, cheap).routed_requests == 0
    # Under a 9% bound the whole type goes, long answers included: the router cannot foresee them.
    routing = analyze_routing(profile, current, cheap, RoutingRule(max_long_share=0.09))
    assert routing.types[0].prompt_limit == 7680 and routing.routed_requests == len(trace)
    assert routing.long_requests == long_answers
    assert routing.types[0].long_share_upper == pytest.approx(wilson_upper(707, 8819))
    all_in, all_out = sum(r.context_tokens for r in trace), sum(r.generated_tokens for r in trace)
    assert (routing.routed_input_tokens, routing.routed_output_tokens) == (all_in, all_out)
    factor = SECONDS_PER_MONTH / (trace[-1].at - trace[0].at).total_seconds()
    assert routing.monthly_cost_current_usd == pytest.approx(current.cost_usd(all_in, all_out) * factor)
    assert routing.monthly_cost_split_usd == pytest.approx(cheap.cost_usd(all_in, all_out) * factor)


def test_context_right_sizing_matches_the_records(
    trace: list[TokenRecord], profile: ApplicationProfile
) -> None:
    totals = sorted(r.total_tokens for r in trace)
    p95 = totals[int(0.95 * len(totals) + 0.999999) - 1]
    sizing = right_size_context(profile, 128_000, price=PRICES.get("gpt-4o"))
    assert sizing.types[0].total_p95_tokens == p95
    assert sizing.recommended_window == 8192  # 7,343 x 1.1 = 8,078, up to 32 blocks of 256
    assert sizing.truncated_requests == sum(t > 8192 for t in totals) == 0
    tight = right_size_context(profile, 128_000, buffer=0.0, price=PRICES.get("gpt-4o"))
    assert tight.recommended_window == 7424
    assert tight.truncated_requests == sum(t > 7424 for t in totals)
    assert tight.tokens_cut == sum(t - 7424 for t in totals if t > 7424)
    assert 0 < tight.truncated_share < 0.05


def test_prompt_efficiency_matches_the_records(trace: list[TokenRecord], profile: ApplicationProfile) -> None:
    efficiency = analyze_prompt_efficiency(profile, PRICES.get("gpt-4o"))
    long_short = [
        r for r in trace if r.context_tokens > LONG_INPUT_TOKENS and r.generated_tokens <= SHORT_OUTPUT_TOKENS
    ]
    assert efficiency.long_short_requests == len(long_short)
    assert efficiency.long_short_input_tokens == sum(r.context_tokens for r in long_short)
    assert efficiency.excess_input_tokens == sum(r.context_tokens - LONG_INPUT_TOKENS for r in long_short)
    assert efficiency.findings


def test_the_agent_on_the_trace(profile: ApplicationProfile) -> None:
    result = analyze_application(api_snapshot(profile=profile), PRICES)
    assert not any(p.type is RecommendationType.MODEL_ROUTING for p in result.proposals)
    assert any(note.startswith("no model routing: code: no prompt length") for note in result.notes)
    loose = ApplicationSettings(routing=RoutingRule(max_long_share=0.09))
    proposals = analyze_application(api_snapshot(profile=profile), PRICES, loose).proposals
    routing = next(p for p in proposals if p.type is RecommendationType.MODEL_ROUTING)
    assert routing.evidence["routed_share"] == 1.0
    assert routing.estimated_monthly_savings_usd == 0.0
    assert float(routing.evidence["savings_upper_bound_usd_month"]) > 30_000
