"""Model routing on hand-built logs: which requests a cheaper model takes, and the cost of each route."""

import pytest

from agents.application.profile import profile_requests
from agents.application.routing import RoutingRule, analyze_routing
from optiinfra.domain.application import SECONDS_PER_MONTH
from tests.agents.application.records import price, records

BIG = price("big", 10.0, 20.0, 100_000)
SHAPES = [(100, 10), (300, 50), (3000, 5), (5000, 100)]
"""Four requests a minute apart: 180 s of log."""


def test_short_answers_that_fit_go_to_the_cheaper_model_and_each_route_is_priced() -> None:
    profile = profile_requests(records(SHAPES))
    routing = analyze_routing(profile, BIG, price("small", 1.0, 2.0, 4096))
    assert routing.routed_requests == 3 and routing.share == 0.75
    assert (routing.routed_input_tokens, routing.routed_output_tokens) == (3400, 65)
    assert routing.routed_input_share == pytest.approx(3400 / 8400)
    factor = SECONDS_PER_MONTH / 180
    assert routing.monthly_cost_current_usd == pytest.approx((8400 * 10 + 165 * 20) / 1e6 * factor)
    assert routing.monthly_cost_split_current_usd == pytest.approx((5000 * 10 + 100 * 20) / 1e6 * factor)
    assert routing.monthly_cost_split_cheap_usd == pytest.approx((3400 * 1 + 65 * 2) / 1e6 * factor)
    assert routing.monthly_savings_usd == pytest.approx(
        routing.monthly_cost_current_usd - routing.monthly_cost_split_usd
    )
    assert routing.savings_share == pytest.approx(
        routing.monthly_savings_usd / routing.monthly_cost_current_usd
    )
    assert [(t.request_type, t.routed_requests) for t in routing.types] == [("chat", 3)]


def test_the_cheaper_window_bounds_what_it_takes() -> None:
    profile = profile_requests(records(SHAPES))
    # The 3,005-token request sits in the cell (2816, 3072] x (4, 8]: it fits 3,100 tokens for sure ...
    assert analyze_routing(profile, BIG, price("small", 1.0, 2.0, 3100)).routed_requests == 3
    # ... but at 3,050 the cell straddles the window and stays on the current model (conservative).
    assert analyze_routing(profile, BIG, price("small", 1.0, 2.0, 3050)).routed_requests == 2
    # Headroom shrinks the window the routed requests must fit.
    rule = RoutingRule(context_headroom=0.5)
    assert analyze_routing(profile, BIG, price("small", 1.0, 2.0, 6200), rule).window_tokens == 3100


def test_the_output_threshold_is_configurable_and_exact_on_the_grid() -> None:
    profile = profile_requests(records(SHAPES))
    cheap = price("small", 1.0, 2.0, 4096)
    assert analyze_routing(profile, BIG, cheap, RoutingRule(max_generated_tokens=8)).routed_requests == 1
    assert analyze_routing(profile, BIG, cheap, RoutingRule(max_generated_tokens=128)).routed_requests == 3
    # 50 is not an edge (48 and 64 are): the cell (48, 64] holding the 50-token answer stays.
    off_grid = RoutingRule(max_generated_tokens=50)
    assert not off_grid.exact and RoutingRule().exact
    assert analyze_routing(profile, BIG, cheap, off_grid).routed_requests == 2
    with pytest.raises(ValueError, match="headroom"):
        RoutingRule(context_headroom=1.0)
