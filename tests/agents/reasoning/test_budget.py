"""The daily budget: the tier choice on its own, then against the live stub, where a partly spent budget
sends a frontier task to a cheaper tier (the stub sees that tier's model) and a spent one sends nothing."""

import json
from collections.abc import Sequence
from typing import ClassVar

import pytest
from pydantic import BaseModel

from agents.reasoning.budget import (
    CallAllowance,
    TierChoice,
    choose_tier,
    estimated_cost_usd,
    estimated_prompt_tokens,
)
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.llm.chat import ChatMessage, ChatReply
from optiinfra.llm.config import BudgetPolicy, TierModel, TokenPrice
from optiinfra.llm.tiers import InferenceTier
from tests.agents.reasoning.layers import LayerFactory, tenant
from tests.support.openai_stub import OpenAIStub, answer

SMALL, MEDIUM, FRONTIER = InferenceTier.SMALL, InferenceTier.MEDIUM, InferenceTier.FRONTIER
PRICES = {
    SMALL: TokenPrice(input_usd_per_1k=0.1, output_usd_per_1k=0.2),
    MEDIUM: TokenPrice(input_usd_per_1k=1.0, output_usd_per_1k=2.0),
    FRONTIER: TokenPrice(input_usd_per_1k=5.0, output_usd_per_1k=15.0),
}
MESSAGES = [ChatMessage(role="user", content="x" * 400)]  # 100 tokens, plus 4 for the message
POLICY = BudgetPolicy(daily_budget_usd=5.0, downgrade_fraction=0.8, max_completion_tokens=200)


class NeverCalled:
    """A client for tier choices that never make a call."""

    def __init__(self, model: str) -> None:
        self._model = model

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatReply:
        raise AssertionError("no call expected")

    async def aclose(self) -> None:
        return None


def tiers(*configured: InferenceTier) -> dict[InferenceTier, TierModel]:
    return {tier: TierModel(client=NeverCalled(tier.value), price=PRICES[tier]) for tier in configured}


def test_the_estimate_counts_prompt_characters_and_the_completion_cap() -> None:
    assert estimated_prompt_tokens(MESSAGES) == 104
    assert estimated_prompt_tokens([ChatMessage(role="user", content="abcde")]) == 2 + 4
    # 104 tokens in at $5/1k and 200 out at $15/1k.
    assert estimated_cost_usd(PRICES[FRONTIER], MESSAGES, 200) == pytest.approx(0.52 + 3.0)


def test_the_routed_tier_answers_while_it_fits_and_spend_is_under_the_fraction() -> None:
    choice = choose_tier(FRONTIER, tiers(SMALL, MEDIUM, FRONTIER), MESSAGES, spent_usd=0.5, policy=POLICY)
    assert choice == TierChoice(FRONTIER)


def test_past_the_fraction_the_next_cheaper_configured_tier_answers() -> None:
    choice = choose_tier(FRONTIER, tiers(SMALL, MEDIUM, FRONTIER), MESSAGES, spent_usd=4.0, policy=POLICY)
    assert choice == TierChoice(MEDIUM, "downgraded from frontier to medium: $4.00 of $5.00 spent today")


def test_a_call_that_would_not_fit_what_is_left_is_downgraded_below_the_fraction_too() -> None:
    # $1.60 left; frontier's call could cost $3.52, medium's $0.50.
    choice = choose_tier(FRONTIER, tiers(SMALL, MEDIUM, FRONTIER), MESSAGES, spent_usd=3.4, policy=POLICY)
    assert choice == TierChoice(MEDIUM, "downgraded from frontier to medium: $3.40 of $5.00 spent today")


def test_the_walk_skips_tiers_that_do_not_fit_or_are_not_configured() -> None:
    # $0.20 left: medium's $0.50 does not fit, small's $0.05 does.
    choice = choose_tier(FRONTIER, tiers(SMALL, MEDIUM, FRONTIER), MESSAGES, spent_usd=4.8, policy=POLICY)
    assert choice.tier is SMALL
    assert choose_tier(FRONTIER, tiers(SMALL, FRONTIER), MESSAGES, spent_usd=4.0, policy=POLICY).tier is SMALL


def test_a_spent_budget_leaves_the_rules() -> None:
    choice = choose_tier(MEDIUM, tiers(SMALL, MEDIUM), MESSAGES, spent_usd=5.0, policy=POLICY)
    assert choice == TierChoice(None, "daily budget spent ($5.00 of $5.00)")


def test_no_cheaper_tier_that_fits_leaves_the_rules() -> None:
    choice = choose_tier(FRONTIER, tiers(MEDIUM, FRONTIER), MESSAGES, spent_usd=4.9, policy=POLICY)
    assert choice == TierChoice(
        None,
        "daily budget nearly spent ($4.90 of $5.00 today) "
        "and no configured tier below frontier fits the $0.10 left",
    )
    # The cheapest tier has nothing below it once spend passes the fraction.
    assert choose_tier(SMALL, tiers(SMALL), MESSAGES, spent_usd=4.5, policy=POLICY).tier is None


def test_an_allowance_refuses_a_call_once_billed_calls_leave_no_room() -> None:
    allowance = CallAllowance(spent_usd=4.0, budget_usd=5.0, price=PRICES[MEDIUM], max_completion_tokens=200)
    assert allowance.refusal(MESSAGES, billed_usd=0.0) is None  # $4.00 + $0.50 estimate
    refusal = allowance.refusal(MESSAGES, billed_usd=0.6)
    assert refusal == (
        "daily budget has no room for another call ($4.60 of $5.00 spent today, the call could cost $0.50)"
    )


# Against the live stub


class RootCause(BaseModel):
    cause: str


class FindRootCause(ReasoningTask[RootCause]):
    """A frontier-tier task."""

    name: ClassVar[str] = "find_root_cause"
    kind: ClassVar[TaskKind] = TaskKind.ROOT_CAUSE
    answer_model = RootCause

    def __init__(self, incident: str = "p95 TTFT doubled at 14:00 on chat-8b") -> None:
        self.incident = incident

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=f"Find the root cause, as JSON: {self.incident}")]

    def rule_answer(self) -> RootCause:
        return RootCause(cause="unknown")


CAUSE = json.dumps({"cause": "KV cache preemption after a context-length increase"})
TWO_TIERS = {SMALL: "small-model", FRONTIER: "frontier-model"}


async def test_a_partly_spent_budget_sends_a_frontier_task_to_the_small_model(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(TWO_TIERS, budget=5.0, prices=PRICES)
    openai_stub.script(answer(CAUSE))
    result = await layer.answer(FindRootCause(), tenant=tenant(spent=4.5))

    assert [request["model"] for request in openai_stub.requests] == ["small-model"]
    assert result.answer == RootCause.model_validate_json(CAUSE)
    assert (result.usage.tier, result.usage.model) == (SMALL, "small-model")
    assert not result.usage.fell_back_to_rules
    assert result.usage.reason == "downgraded from frontier to small: $4.50 of $5.00 spent today"
    assert result.usage.cost_usd == pytest.approx((120 * 0.1 + 40 * 0.2) / 1000)


async def test_an_unspent_budget_keeps_the_frontier_model(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(TWO_TIERS, budget=5.0, prices=PRICES)
    openai_stub.script(answer(CAUSE))
    result = await layer.answer(FindRootCause(), tenant=tenant(spent=1.0))
    assert [request["model"] for request in openai_stub.requests] == ["frontier-model"]
    assert (result.usage.tier, result.usage.reason) == (FRONTIER, "")


@pytest.mark.parametrize("spent", [5.0, 7.5])
async def test_a_spent_budget_answers_with_rules_and_sends_nothing(
    openai_stub: OpenAIStub, make_layer: LayerFactory, spent: float
) -> None:
    layer = make_layer(TWO_TIERS, budget=5.0, prices=PRICES)
    openai_stub.script(answer(CAUSE))
    result = await layer.answer(FindRootCause(), tenant=tenant(spent=spent))

    assert openai_stub.requests == []
    assert result.answer == RootCause(cause="unknown")
    assert result.usage.fell_back_to_rules
    assert result.usage.tier is FRONTIER
    assert result.usage.reason == f"daily budget spent (${spent:.2f} of $5.00)"
    assert (result.usage.cost_usd, result.usage.calls) == (0.0, 0)


async def test_a_nearly_spent_budget_with_nothing_cheap_enough_answers_with_rules(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(TWO_TIERS, budget=5.0, prices=PRICES)
    result = await layer.answer(FindRootCause(), tenant=tenant(spent=4.99))
    assert openai_stub.requests == []
    assert result.usage.fell_back_to_rules
    assert result.usage.reason.startswith("daily budget nearly spent ($4.99 of $5.00 today)")


async def test_after_a_downgrade_the_cheaper_tiers_cache_is_tried_too(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(TWO_TIERS, budget=5.0, prices=PRICES)
    openai_stub.script(answer(CAUSE))
    await layer.answer(FindRootCause(), tenant=tenant(spent=4.5))  # answered by the small tier
    again = await layer.answer(FindRootCause(), tenant=tenant(spent=4.6))
    spent_out = await layer.answer(FindRootCause(), tenant=tenant(spent=50.0))

    assert len(openai_stub.requests) == 1
    assert again.usage.cached
    assert (again.usage.tier, again.usage.cost_usd) == (SMALL, 0.0)
    # Only the routed (frontier) tier's cache comes before the budget: a spent budget chooses no tier,
    # so no cheaper tier's cache is looked at.
    assert spent_out.usage.fell_back_to_rules
    assert spent_out.usage.reason == "daily budget spent ($50.00 of $5.00)"
