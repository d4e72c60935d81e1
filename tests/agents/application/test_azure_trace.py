"""The Application agent's analyzers on the real Azure LLM inference trace (coding assistant, 8,819
requests over 57 minutes): every figure read from the profile's histograms agrees with the same figure
computed straight from the records."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.application.context import right_size_context
from agents.application.efficiency import LONG_INPUT_TOKENS, SHORT_OUTPUT_TOKENS, analyze_prompt_efficiency
from agents.application.profile import profile_requests
from agents.application.routing import DEFAULT_MAX_GENERATED_TOKENS, analyze_routing
from agents.application.strategies import analyze_application
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


def test_routing_share_is_the_share_of_short_answers_that_fit(
    trace: list[TokenRecord], profile: ApplicationProfile
) -> None:
    current, cheap = PRICES.get("gpt-4o"), PRICES.get("gpt-4o-mini")
    routing = analyze_routing(profile, current, cheap)
    routed = [
        r
        for r in trace
        if r.generated_tokens <= DEFAULT_MAX_GENERATED_TOKENS and r.total_tokens <= cheap.max_context_tokens
    ]
    assert routing.routed_requests == len(routed)
    assert routing.share == pytest.approx(len(routed) / len(trace))
    assert 0.9 < routing.share < 0.93
    routed_in = sum(r.context_tokens for r in routed)
    routed_out = sum(r.generated_tokens for r in routed)
    assert (routing.routed_input_tokens, routing.routed_output_tokens) == (routed_in, routed_out)
    factor = SECONDS_PER_MONTH / (trace[-1].at - trace[0].at).total_seconds()
    all_in, all_out = sum(r.context_tokens for r in trace), sum(r.generated_tokens for r in trace)
    assert routing.monthly_cost_current_usd == pytest.approx(current.cost_usd(all_in, all_out) * factor)
    assert routing.monthly_cost_split_usd == pytest.approx(
        (current.cost_usd(all_in - routed_in, all_out - routed_out) + cheap.cost_usd(routed_in, routed_out))
        * factor
    )
    assert routing.monthly_savings_usd > 0.8 * routing.monthly_cost_current_usd


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
    assert result.proposals[0].type is RecommendationType.MODEL_ROUTING
    assert result.proposals[0].evidence["routed_share"] == pytest.approx(0.9198, abs=1e-4)
