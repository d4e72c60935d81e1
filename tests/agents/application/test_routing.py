"""Model routing on hand-built logs: routes keyed on what a router knows before the answer (request type,
prompt length), the quality bound that limits them, and the cost of each route."""

import pytest

from agents.application.profile import profile_requests
from agents.application.routing import (
    QualityStatus,
    RoutingAnalysis,
    RoutingRule,
    analyze_routing,
    comparisons_to_confirm,
    quality_sample_size,
    wilson_lower,
    wilson_upper,
)
from optiinfra.domain.application import SECONDS_PER_MONTH
from optiinfra.privacy.records import QualityComparison, TokenRecord
from tests.agents.application.records import comparisons, price, records

BIG = price("big", 10.0, 20.0, 100_000)
SMALL = price("small", 1.0, 2.0, 16_384)
SHORT_PROMPTS = [(500, 10)] * 100
"""Short prompts, short answers."""
LONG_PROMPTS = [(3000, 500)] * 100
"""Long prompts with long answers: the router cannot tell the answer, but it can tell the prompt."""


def test_the_wilson_bound_and_the_quality_sample_it_implies() -> None:
    assert wilson_upper(0, 100) == pytest.approx(3.8416 / 103.8416)
    assert wilson_upper(5, 100) == pytest.approx(0.1118, abs=1e-4)
    assert wilson_upper(0, 0) == 1.0
    # 73 answers with no disagreement put the disagreement's upper bound just under 5%; 72 do not.
    assert quality_sample_size(0.05) == 73
    assert wilson_upper(0, 73) <= 0.05 < wilson_upper(0, 72)


def test_a_route_stops_at_the_prompt_length_where_long_answers_break_the_bound() -> None:
    profile = profile_requests(records(SHORT_PROMPTS + LONG_PROMPTS, step_s=1.0))
    routing = analyze_routing(profile, BIG, SMALL)
    (chat,) = routing.types
    assert chat.prompt_limit == 512 and chat.routed_requests == 100 and chat.long_requests == 0
    assert "longer prompts need long answers" in chat.reason
    assert (routing.routed_input_tokens, routing.routed_output_tokens) == (50_000, 1_000)
    factor = SECONDS_PER_MONTH / 199
    all_in, all_out = 100 * 500 + 100 * 3000, 100 * 10 + 100 * 500
    assert routing.monthly_cost_current_usd == pytest.approx((all_in * 10 + all_out * 20) / 1e6 * factor)
    assert routing.monthly_cost_split_cheap_usd == pytest.approx((50_000 * 1 + 1_000 * 2) / 1e6 * factor)
    assert routing.monthly_savings_upper_bound_usd == pytest.approx(
        routing.monthly_cost_current_usd - routing.monthly_cost_split_usd
    )


def test_a_looser_bound_takes_long_answers_it_cannot_foresee() -> None:
    mixed = [(500, 10)] * 95 + [(500, 200)] * 5
    profile = profile_requests(records(mixed, step_s=1.0))
    # 5 long answers in 100: at most 11.2% at 95% confidence, over the default 5% bound.
    assert analyze_routing(profile, BIG, SMALL).routed_requests == 0
    loose = analyze_routing(profile, BIG, SMALL, RoutingRule(max_long_share=0.12))
    assert loose.routed_requests == 100 and loose.long_requests == 5
    assert loose.long_share == pytest.approx(0.05)


def test_each_request_type_gets_its_own_route() -> None:
    log = records([(500, 10)] * 80, request_type="classify", step_s=1.0) + records(
        [(500, 300)] * 80, request_type="write", step_s=1.0, offset_s=0.5
    )
    routing = analyze_routing(profile_requests(log), BIG, SMALL)
    routes = {t.request_type: t for t in routing.types}
    assert routes["classify"].prompt_limit == 512 and routes["classify"].share == 1.0
    assert routes["write"].prompt_limit is None and routes["write"].routed_requests == 0
    assert routing.share == 0.5


def test_too_few_requests_are_not_judged() -> None:
    profile = profile_requests(records([(500, 10)] * 20, step_s=1.0))
    (chat,) = analyze_routing(profile, BIG, SMALL).types
    assert chat.prompt_limit is None and "fewer than 50 requests" in chat.reason
    # No long answer in 20 is at most 16.1% long at 95% confidence: within a 20% bound, once 10 suffice.
    loose = RoutingRule(max_long_share=0.2, min_requests=10)
    assert analyze_routing(profile, BIG, SMALL, loose).routed_requests == 20
    assert analyze_routing(profile, BIG, SMALL, RoutingRule(max_long_share=0.2)).routed_requests == 0


def test_the_cheaper_window_ends_a_route() -> None:
    log = records([(500, 10)] * 80 + [(3000, 10)] * 80, step_s=1.0)
    profile = profile_requests(log)
    # The 3,000-token prompts sit in (2816, 3072] with answers in (8, 16]: 3,088 tokens fit 3,100 ...
    assert analyze_routing(profile, BIG, price("small", 1.0, 2.0, 3100)).routed_requests == 160
    # ... but not 3,050: the route ends below them, whatever their answers.
    narrow = analyze_routing(profile, BIG, price("small", 1.0, 2.0, 3050))
    assert narrow.routed_requests == 80 and "window" in narrow.types[0].reason
    # Headroom shrinks the window the routed requests must fit.
    rule = RoutingRule(context_headroom=0.5)
    assert analyze_routing(profile, BIG, price("small", 1.0, 2.0, 6200), rule).window_tokens == 3100


def test_the_output_threshold_is_configurable_and_exact_on_the_grid() -> None:
    profile = profile_requests(records([(500, 50)] * 100, step_s=1.0))
    assert analyze_routing(profile, BIG, SMALL).routed_requests == 100
    assert analyze_routing(profile, BIG, SMALL, RoutingRule(max_generated_tokens=32)).routed_requests == 0
    # 50 is not an edge (48 and 64 are): the cell (48, 64] holding the 50-token answers counts as long.
    off_grid = RoutingRule(max_generated_tokens=50)
    assert not off_grid.exact and RoutingRule().exact
    assert analyze_routing(profile, BIG, SMALL, off_grid).routed_requests == 0
    with pytest.raises(ValueError, match="headroom"):
        RoutingRule(context_headroom=1.0)
    with pytest.raises(ValueError, match="max_long_share"):
        RoutingRule(max_long_share=0.0)


# Quality samples: what turns a route's upper bound into savings


def _routed(sample: list[QualityComparison], log: list[TokenRecord] | None = None) -> RoutingAnalysis:
    profile = profile_requests(log or records(SHORT_PROMPTS + LONG_PROMPTS, step_s=1.0), quality=sample)
    return analyze_routing(profile, BIG, SMALL)


def test_a_route_without_a_sample_saves_nothing_yet() -> None:
    routing = _routed([])
    (chat,) = routing.types
    assert chat.quality is QualityStatus.UNSAMPLED and chat.monthly_savings_usd > 0
    assert routing.monthly_savings_confirmed_usd == 0.0 and not routing.confirmed
    assert routing.monthly_savings_upper_bound_usd == pytest.approx(chat.monthly_savings_usd)


def test_a_sample_with_no_worse_answer_confirms_the_route_and_its_savings_count() -> None:
    routing = _routed(comparisons(0, 73))
    (chat,) = routing.types
    assert (chat.quality, chat.compared, chat.worse) == (QualityStatus.CONFIRMED, 73, 0)
    assert routing.confirmed
    assert routing.monthly_savings_confirmed_usd == pytest.approx(routing.monthly_savings_upper_bound_usd)


def test_a_sample_too_small_to_tell_leaves_the_route_pending_and_says_what_would_settle_it() -> None:
    routing = _routed(comparisons(1, 59))
    (chat,) = routing.types
    assert chat.quality is QualityStatus.PENDING and routing.monthly_savings_confirmed_usd == 0.0
    more = chat.more_to_confirm
    assert more is not None and more > 0
    assert wilson_upper(1, 60 + more) <= 0.05 < wilson_upper(1, 60 + more - 1)
    assert chat.prompt_limit == 512 and routing.routed_requests == 100


def test_a_sample_of_many_worse_answers_refutes_the_route_and_takes_it_out_of_the_split() -> None:
    # 12 of 80 worse: at least 8.8% at 95% confidence, above the 5% bound.
    assert wilson_lower(12, 80) > 0.05
    routing = _routed(comparisons(12, 68))
    (chat,) = routing.types
    assert chat.quality is QualityStatus.REFUTED and chat.prompt_limit is None
    assert "refuted" in chat.reason and "12 of 80" in chat.reason
    assert routing.routed_requests == 0 and routing.monthly_savings_upper_bound_usd == pytest.approx(0.0)


def test_only_the_routes_own_comparisons_count() -> None:
    # Another cheaper model, another request type and prompts beyond the route's limit say nothing of it.
    elsewhere = (
        comparisons(0, 80, cheap_model="other-small")
        + comparisons(0, 80, request_type="write")
        + comparisons(0, 80, context_tokens=3000)
    )
    (chat,) = _routed(elsewhere).types
    assert chat.quality is QualityStatus.UNSAMPLED and chat.compared == 0


def test_confirmed_savings_are_the_confirmed_routes_only() -> None:
    log = records([(500, 10)] * 80, request_type="classify", step_s=1.0) + records(
        [(700, 10)] * 80, request_type="tag", step_s=1.0, offset_s=0.5
    )
    routing = _routed(comparisons(0, 73, request_type="classify"), log)
    routes = {t.request_type: t for t in routing.types}
    assert routes["classify"].quality is QualityStatus.CONFIRMED
    assert routes["tag"].quality is QualityStatus.UNSAMPLED
    assert routing.monthly_savings_confirmed_usd == pytest.approx(routes["classify"].monthly_savings_usd)
    assert 0 < routing.monthly_savings_confirmed_usd < routing.monthly_savings_upper_bound_usd
    assert routing.monthly_savings_upper_bound_usd == pytest.approx(
        routes["classify"].monthly_savings_usd + routes["tag"].monthly_savings_usd
    )


def test_comparisons_to_confirm_is_the_least_count_that_does() -> None:
    assert comparisons_to_confirm(0, 0, 0.05) == quality_sample_size(0.05) == 73
    assert comparisons_to_confirm(0, 73, 0.05) == 0
    assert comparisons_to_confirm(200, 300, 0.001) is None  # a 0.1% share needs 200,000 more
