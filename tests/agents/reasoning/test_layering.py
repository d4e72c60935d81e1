"""The inference layer against a live OpenAI-compatible stub: a valid answer is used and billed, every kind
of failure is answered by the rule tier with its reason, content the customer's privacy tier does not
allow never goes out, and the breaker and exact cache keep calls from going out (the stub's request log
proves it). Repairs, budgets and the semantic cache have their own modules."""

import json
from typing import ClassVar

import pytest
from pydantic import BaseModel

from agents.reasoning.explanations import ProposalExplanation
from agents.reasoning.layering import InferenceLayer
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import BudgetPolicy, InferenceConfig, TierModel
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.privacy.tiers import PrivacyTier
from tests.agents.reasoning.layers import (
    FIGURELESS_JSON,
    GOOD_EXPLANATION,
    GOOD_JSON,
    MAX_COMPLETION_TOKENS,
    MEDIUM_PRICE,
    SHORT_TIMEOUT_SECONDS,
    TIMEOUT_SECONDS,
    LayerFactory,
    ManualClock,
    explain,
    rule_explanation,
    tenant,
)
from tests.support.openai_stub import (
    OpenAIStub,
    ScriptedReply,
    answer,
    malformed,
    rate_limited,
    schema_invalid,
    server_error,
    slow,
)

# A valid answer


async def test_valid_answer_is_used_and_billed_with_the_stubs_token_counts(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(answer(GOOD_JSON, prompt_tokens=300, completion_tokens=80))
    result = await explain(make_layer())

    assert result.answer == ProposalExplanation.model_validate(GOOD_EXPLANATION)
    usage = result.usage
    assert (usage.tier, usage.model) == (InferenceTier.MEDIUM, "medium-model")
    assert (usage.prompt_tokens, usage.completion_tokens) == (300, 80)
    assert usage.cost_usd == pytest.approx(300 * 0.5 / 1000 + 80 * 1.5 / 1000)
    assert (usage.calls, usage.repairs) == (1, 0)
    assert not usage.cached
    assert not usage.fell_back_to_rules
    assert usage.reason == ""

    [request] = openai_stub.requests
    assert request["model"] == "medium-model"
    assert request["response_format"] == {"type": "json_object"}
    assert request["max_tokens"] == MAX_COMPLETION_TOKENS
    system, user = request["messages"]
    assert system["role"] == "system"
    assert "privacy" in system["content"]
    assert json.loads(user["content"])["estimated_monthly_savings_usd"] == 1997.43
    assert openai_stub.authorizations == ["Bearer test-key"]


# Every failure falls back to the rule tier


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(malformed("Sure! Here is the explanation you asked for."), "not valid JSON", id="prose"),
        pytest.param(malformed(), "not valid JSON", id="truncated-json"),
        pytest.param(
            schema_invalid({**GOOD_EXPLANATION, "key_factors": []}),
            "does not match the schema: key_factors",
            id="empty-key-factors",
        ),
        pytest.param(schema_invalid({"summary": "Saves money."}), "does not match the schema", id="missing"),
        pytest.param(
            schema_invalid({**GOOD_EXPLANATION, "summary": "x" * 601}),
            "does not match the schema: summary",
            id="summary-too-long",
        ),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "summary": "Saves $2,400 a month."})),
            "was rejected: dollar figures not in the proposal: $2,400",
            id="changed-dollar-figure",
        ),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "risks": ["Could cost $9.5k if spot is reclaimed"]})),
            "dollar figures not in the proposal: $9.5k",
            id="invented-dollar-figure-in-risks",
        ),
    ],
)
async def test_an_answer_still_invalid_after_two_repairs_is_replaced_by_the_rules(
    openai_stub: OpenAIStub, make_layer: LayerFactory, reply: ScriptedReply, reason: str
) -> None:
    openai_stub.script(reply)  # the stub repeats it for the draft and both repairs
    result = await explain(make_layer())

    assert result.answer == rule_explanation()
    usage = result.usage
    assert usage.fell_back_to_rules
    assert usage.tier is InferenceTier.MEDIUM
    assert reason in usage.reason
    assert usage.reason.startswith("medium tier answer ")
    assert usage.reason.endswith(" (after 2 repairs)")
    assert len(openai_stub.requests) == 3
    # Every reply that arrived was billed even though it was rejected.
    assert (usage.calls, usage.repairs) == (3, 2)
    assert (usage.prompt_tokens, usage.completion_tokens) == (3 * 120, 3 * 40)
    assert usage.cost_usd == pytest.approx(3 * (120 * 0.5 + 40 * 1.5) / 1000)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(server_error(500), "medium tier call failed: HTTP 500", id="http-500"),
        pytest.param(server_error(503), "medium tier call failed: HTTP 503", id="http-503"),
        pytest.param(
            rate_limited(7), "medium tier call failed: HTTP 429 (rate limited, retry after 7s)", id="http-429"
        ),
    ],
)
async def test_an_http_error_is_answered_by_the_rules_without_retrying_or_billing(
    openai_stub: OpenAIStub, make_layer: LayerFactory, reply: ScriptedReply, reason: str
) -> None:
    openai_stub.script(reply)
    result = await explain(make_layer())

    assert result.answer == rule_explanation()
    assert result.usage.fell_back_to_rules
    assert result.usage.reason == reason
    assert len(openai_stub.requests) == 1  # neither the SDK nor a repair asked again
    assert (result.usage.calls, result.usage.repairs) == (1, 0)
    assert (result.usage.prompt_tokens, result.usage.cost_usd) == (0, 0.0)


async def test_a_slow_endpoint_times_out_and_falls_back(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(slow(5.0, GOOD_JSON))
    result = await explain(make_layer(timeout=SHORT_TIMEOUT_SECONDS))
    assert result.answer == rule_explanation()
    assert result.usage.fell_back_to_rules
    assert result.usage.reason == f"medium tier call failed: timed out after {SHORT_TIMEOUT_SECONDS:g}s"
    assert (result.usage.prompt_tokens, result.usage.cost_usd) == (0, 0.0)
    assert len(openai_stub.requests) == 1


async def test_a_rounded_copy_of_a_proposal_figure_is_accepted(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    summary = "Saves about $1,997 of the $4.14k spent each month."
    openai_stub.script(answer(json.dumps({**GOOD_EXPLANATION, "summary": summary})))
    result = await explain(make_layer())
    assert not result.usage.fell_back_to_rules
    assert result.answer.summary == summary


async def test_unreachable_endpoint_falls_back() -> None:
    client = OpenAIChatClient(
        base_url="http://127.0.0.1:9/v1", model="m", api_key=None, timeout_seconds=TIMEOUT_SECONDS
    )
    config = InferenceConfig(
        tiers={InferenceTier.MEDIUM: TierModel(client=client, price=MEDIUM_PRICE)},
        budget=BudgetPolicy(daily_budget_usd=100.0),
    )
    layer = InferenceLayer(config)
    try:
        result = await explain(layer)
    finally:
        await layer.aclose()
    assert result.answer == rule_explanation()
    assert "connection failed" in result.usage.reason


# Circuit breaker


async def test_breaker_opens_after_n_failures_and_stops_calling_then_half_opens(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    clock = ManualClock()
    layer = make_layer(threshold=2, cooldown=30.0, clock=clock)
    openai_stub.script(server_error(500))

    for _ in range(2):
        assert "HTTP 500" in (await explain(layer)).usage.reason
    assert len(openai_stub.requests) == 2

    for _ in range(3):
        blocked = await explain(layer)
        assert blocked.usage.reason == "circuit breaker open for the medium tier"
        assert blocked.answer == rule_explanation()
        assert blocked.usage.calls == 0
    assert len(openai_stub.requests) == 2  # open: nothing went out

    clock.now += 29.0
    await explain(layer)
    assert len(openai_stub.requests) == 2  # still cooling down

    clock.now += 1.0  # half-open: one trial call; it fails, so the breaker opens again at once
    assert "HTTP 500" in (await explain(layer)).usage.reason
    assert len(openai_stub.requests) == 3
    assert "circuit breaker open" in (await explain(layer)).usage.reason
    assert len(openai_stub.requests) == 3

    clock.now += 30.0  # the next trial succeeds and closes the breaker
    openai_stub.script(answer(FIGURELESS_JSON))
    recovered = await explain(layer)
    assert not recovered.usage.fell_back_to_rules
    assert len(openai_stub.requests) == 4
    assert not (await explain(layer, savings=1500.0)).usage.fell_back_to_rules
    assert len(openai_stub.requests) == 5


async def test_rate_limiting_counts_as_a_breaker_failure(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(threshold=2)
    openai_stub.script(rate_limited())
    await explain(layer)
    await explain(layer, savings=1500.0)
    blocked = await explain(layer, savings=1200.0)
    assert blocked.usage.reason == "circuit breaker open for the medium tier"
    assert len(openai_stub.requests) == 2


async def test_each_invalid_answer_counts_as_a_breaker_failure(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    """With the default threshold of three, one answer whose draft and both repairs are invalid opens it."""
    layer = make_layer(threshold=3)
    openai_stub.script(malformed())
    first = await explain(layer)
    assert first.usage.reason.endswith("(after 2 repairs)")
    assert len(openai_stub.requests) == 3
    blocked = await explain(layer, savings=1500.0)
    assert blocked.usage.reason == "circuit breaker open for the medium tier"
    assert len(openai_stub.requests) == 3


async def test_a_breaker_that_opens_between_draft_and_repair_stops_the_repair(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(threshold=2)
    openai_stub.script(malformed())
    result = await explain(layer)
    assert len(openai_stub.requests) == 2
    assert result.usage.reason.startswith("medium tier answer is not valid JSON")
    assert result.usage.reason.endswith("(after 1 repair); circuit breaker open for the medium tier")
    assert (result.usage.calls, result.usage.repairs) == (2, 1)


async def test_a_success_resets_the_failure_count(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    layer = make_layer(threshold=2)
    openai_stub.script(server_error(), answer(FIGURELESS_JSON), server_error())
    await explain(layer, savings=1000.0)
    await explain(layer)
    await explain(layer, savings=1200.0)
    assert "HTTP 500" in (await explain(layer, savings=1300.0)).usage.reason
    assert len(openai_stub.requests) == 4


# Exact-match cache


async def test_a_repeated_question_is_answered_from_the_cache_for_free(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer()
    openai_stub.script(answer(GOOD_JSON, prompt_tokens=300, completion_tokens=80))
    first = await explain(layer)
    again = await explain(layer, spent=1_000_000.0)  # a cache hit costs nothing, so the budget is moot

    assert len(openai_stub.requests) == 1
    assert again.answer == first.answer
    assert again.usage.cached
    assert again.usage.reason == "exact cache hit"
    assert (again.usage.prompt_tokens, again.usage.completion_tokens, again.usage.cost_usd) == (0, 0, 0.0)
    assert again.usage.calls == 0
    assert not again.usage.fell_back_to_rules


async def test_a_different_question_is_not_a_cache_hit(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer()
    openai_stub.script(answer(FIGURELESS_JSON))
    await explain(layer)
    other = await explain(layer, savings=1500.0)
    assert len(openai_stub.requests) == 2
    assert not other.usage.cached
    assert not other.usage.fell_back_to_rules


async def test_rejected_answers_are_not_cached(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    layer = make_layer(threshold=10)
    openai_stub.script(malformed(), malformed(), malformed(), answer(GOOD_JSON))
    assert (await explain(layer)).usage.fell_back_to_rules
    second = await explain(layer)
    assert not second.usage.fell_back_to_rules
    assert not second.usage.cached
    assert len(openai_stub.requests) == 4


# No model configured


async def test_no_tier_configured_means_rules_and_no_http(openai_stub: OpenAIStub) -> None:
    layer = InferenceLayer()
    result = await explain(layer)
    assert result.answer == rule_explanation()
    assert result.usage.tier is InferenceTier.RULES
    assert result.usage.reason == "no model tier configured for explanation tasks"
    assert not result.usage.fell_back_to_rules
    assert (result.usage.model, result.usage.cost_usd, result.usage.calls) == ("", 0.0, 0)
    assert openai_stub.requests == []


# Routing and rules first


class Urgency(BaseModel):
    urgent: bool


class ClassifyUrgency(ReasoningTask[Urgency]):
    """A small-tier task whose rules settle clear cases themselves."""

    name: ClassVar[str] = "classify_urgency"
    kind: ClassVar[TaskKind] = TaskKind.CLASSIFICATION
    answer_model = Urgency

    def __init__(self, text: str) -> None:
        self.text = text

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=f"Is this urgent? Answer as JSON: {self.text}")]

    def rule_answer(self) -> Urgency:
        return Urgency(urgent=False)

    def settled_by_rules(self) -> Urgency | None:
        return Urgency(urgent=True) if "URGENT" in self.text else None


async def test_rules_that_settle_a_task_answer_it_without_a_model(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer({InferenceTier.SMALL: "small-model"})
    result = await layer.answer(ClassifyUrgency("URGENT: fleet down"), tenant=tenant())
    assert result.answer == Urgency(urgent=True)
    assert (result.usage.tier, result.usage.reason) == (InferenceTier.RULES, "settled by rules")
    assert openai_stub.requests == []


@pytest.mark.parametrize(
    ("configured", "explain_model", "classify_model"),
    [
        ({InferenceTier.SMALL: "s", InferenceTier.MEDIUM: "m", InferenceTier.FRONTIER: "f"}, "m", "s"),
        ({InferenceTier.SMALL: "s", InferenceTier.FRONTIER: "f"}, "f", "s"),
        ({InferenceTier.MEDIUM: "m", InferenceTier.FRONTIER: "f"}, "m", "m"),
        ({InferenceTier.FRONTIER: "f"}, "f", "f"),
    ],
)
async def test_each_task_goes_to_the_smallest_configured_tier_that_fits(
    openai_stub: OpenAIStub,
    make_layer: LayerFactory,
    configured: dict[InferenceTier, str],
    explain_model: str,
    classify_model: str,
) -> None:
    layer = make_layer(configured)
    openai_stub.script(answer(GOOD_JSON), answer('{"urgent": true}'))
    explained = await explain(layer)
    classified = await layer.answer(ClassifyUrgency("disk at 91%"), tenant=tenant())

    assert [request["model"] for request in openai_stub.requests] == [explain_model, classify_model]
    assert explained.usage.model == explain_model
    assert classified.answer == Urgency(urgent=True)
    assert classified.usage.model == classify_model


async def test_a_task_too_big_for_every_configured_tier_gets_rules(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    result = await explain(make_layer({InferenceTier.SMALL: "s"}))
    assert result.usage.tier is InferenceTier.RULES
    assert result.usage.reason == "no model tier configured for explanation tasks"
    assert openai_stub.requests == []


# Privacy gate


class SummarizePrompts(ReasoningTask[Urgency]):
    """A task whose messages quote customers' prompts: tier-3 content."""

    name: ClassVar[str] = "summarize_prompts"
    kind: ClassVar[TaskKind] = TaskKind.CLASSIFICATION
    content_tier: ClassVar[PrivacyTier] = PrivacyTier.CONTENT
    answer_model = Urgency

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage(role="user", content="Prompt: 'our Q3 numbers are bad'. Urgent? JSON please.")]

    def rule_answer(self) -> Urgency:
        return Urgency(urgent=False)


@pytest.mark.parametrize("privacy", [PrivacyTier.METRICS_ONLY, PrivacyTier.AGGREGATES])
async def test_content_above_the_customers_privacy_tier_is_never_sent(
    openai_stub: OpenAIStub, make_layer: LayerFactory, privacy: PrivacyTier
) -> None:
    layer = make_layer({InferenceTier.SMALL: "small-model"})
    openai_stub.script(answer('{"urgent": true}'))
    result = await layer.answer(SummarizePrompts(), tenant=tenant(privacy=privacy))

    assert openai_stub.requests == []
    assert result.answer == Urgency(urgent=False)
    assert result.usage.tier is InferenceTier.RULES
    assert (result.usage.calls, result.usage.cost_usd) == (0, 0.0)
    assert result.usage.reason == (
        "not sent to a model: the summarize_prompts prompt holds privacy tier 3 (content) content "
        f"and customer acme is in tier {privacy.value}"
    )


async def test_content_the_customers_tier_allows_is_sent(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer({InferenceTier.SMALL: "small-model"})
    openai_stub.script(answer('{"urgent": true}'))
    result = await layer.answer(SummarizePrompts(), tenant=tenant(privacy=PrivacyTier.CONTENT))
    assert len(openai_stub.requests) == 1
    assert result.answer == Urgency(urgent=True)
    assert result.usage.tier is InferenceTier.SMALL


async def test_metrics_only_tasks_go_out_for_every_tier(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer({InferenceTier.SMALL: "small-model"})
    openai_stub.script(answer('{"urgent": true}'))
    result = await layer.answer(
        ClassifyUrgency("disk at 91%"), tenant=tenant(privacy=PrivacyTier.METRICS_ONLY)
    )
    assert len(openai_stub.requests) == 1
    assert not result.usage.fell_back_to_rules
