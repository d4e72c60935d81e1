"""The inference layer against a live OpenAI-compatible stub: a valid answer is used and billed, every kind
of failure is answered by the rule tier with its reason, and the breaker, cache and budget keep calls
from going out (the stub's request log proves it)."""

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import ClassVar

import pytest
from pydantic import BaseModel

from agents.reasoning.explanations import ExplainProposal, ProposalExplanation
from agents.reasoning.layering import Inference, InferenceLayer
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import BreakerPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from tests.agents.reasoning.proposals import spot_proposal
from tests.support.openai_stub import OpenAIStub, ScriptedReply, answer, server_error, slow

MEDIUM_PRICE = TokenPrice(input_usd_per_1k=0.5, output_usd_per_1k=1.5)
# Generous: the SDK's first call in a process builds its models lazily. The timeout test sets its own.
TIMEOUT_SECONDS = 10.0
SHORT_TIMEOUT_SECONDS = 0.3

GOOD_EXPLANATION = {
    "summary": "Moving one batch replica to spot saves $1,997.43 a month, down from $4,140.00.",
    "key_factors": ["Stateless, non-critical workload", "Spot interruptions under 5% a month"],
    "risks": ["A spot instance can be reclaimed"],
}
# Quotes no dollar figure, so it is a valid answer for a proposal with any savings.
FIGURELESS_EXPLANATION = {
    "summary": "Moving one batch replica to spot cuts its cost.",
    "key_factors": ["Stateless, non-critical workload"],
    "risks": [],
}


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LayerFactory = Callable[..., InferenceLayer]


@pytest.fixture
async def make_layer(openai_stub: OpenAIStub) -> AsyncIterator[LayerFactory]:
    """Layers whose configured tiers all point at the stub, each tier with its own model name."""
    made: list[InferenceLayer] = []

    def make(
        tiers: Mapping[InferenceTier, str] | None = None,
        *,
        budget: float = 100.0,
        threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> InferenceLayer:
        models = {InferenceTier.MEDIUM: "medium-model"} if tiers is None else tiers
        config = InferenceConfig(
            tiers={
                tier: TierModel(
                    client=OpenAIChatClient(
                        base_url=openai_stub.base_url,
                        model=model,
                        api_key="test-key",
                        timeout_seconds=timeout,
                    ),
                    price=MEDIUM_PRICE,
                )
                for tier, model in models.items()
            },
            monthly_budget_usd=budget,
            breaker=BreakerPolicy(failure_threshold=threshold, cooldown_seconds=cooldown),
        )
        layer = InferenceLayer(config, clock=clock or ManualClock())
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.aclose()


async def explain(
    layer: InferenceLayer, *, spent: float = 0.0, savings: float = 1997.43
) -> Inference[ProposalExplanation]:
    return await layer.answer(ExplainProposal(spot_proposal(savings=savings)), spent_this_month_usd=spent)


def rule_explanation(savings: float = 1997.43) -> ProposalExplanation:
    return ExplainProposal(spot_proposal(savings=savings)).rule_answer()


# A valid answer


async def test_valid_answer_is_used_and_billed_with_the_stubs_token_counts(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(answer(json.dumps(GOOD_EXPLANATION), prompt_tokens=300, completion_tokens=80))
    result = await explain(make_layer())

    assert result.answer == ProposalExplanation.model_validate(GOOD_EXPLANATION)
    usage = result.usage
    assert (usage.tier, usage.model) == (InferenceTier.MEDIUM, "medium-model")
    assert (usage.prompt_tokens, usage.completion_tokens) == (300, 80)
    assert usage.cost_usd == pytest.approx(300 * 0.5 / 1000 + 80 * 1.5 / 1000)
    assert not usage.cached
    assert not usage.fell_back_to_rules

    [request] = openai_stub.requests
    assert request["model"] == "medium-model"
    assert request["response_format"] == {"type": "json_object"}
    system, user = request["messages"]
    assert system["role"] == "system"
    assert "privacy" in system["content"]
    assert json.loads(user["content"])["estimated_monthly_savings_usd"] == 1997.43
    assert openai_stub.authorizations == ["Bearer test-key"]


# Every failure falls back to the rule tier


@pytest.mark.parametrize(
    ("reply", "reason", "billed"),
    [
        pytest.param(
            answer("Sure! Here is the explanation you asked for."), "not valid JSON", True, id="prose"
        ),
        pytest.param(answer('{"summary": "truncated'), "not valid JSON", True, id="truncated-json"),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "key_factors": []})),
            "does not match the schema: key_factors",
            True,
            id="empty-key-factors",
        ),
        pytest.param(
            answer(json.dumps({"summary": "Saves money."})),
            "does not match the schema",
            True,
            id="missing-fields",
        ),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "summary": "x" * 601})),
            "does not match the schema: summary",
            True,
            id="summary-too-long",
        ),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "summary": "Saves $2,400 a month."})),
            "dollar figures not in the proposal: $2,400",
            True,
            id="changed-dollar-figure",
        ),
        pytest.param(
            answer(json.dumps({**GOOD_EXPLANATION, "risks": ["Could cost $9.5k if spot is reclaimed"]})),
            "dollar figures not in the proposal: $9.5k",
            True,
            id="invented-dollar-figure-in-risks",
        ),
        pytest.param(server_error(500), "HTTP 500", False, id="http-500"),
        pytest.param(server_error(429), "HTTP 429", False, id="http-429"),
    ],
)
async def test_any_failure_is_answered_by_the_rule_tier_with_its_reason(
    openai_stub: OpenAIStub, make_layer: LayerFactory, reply: ScriptedReply, reason: str, billed: bool
) -> None:
    openai_stub.script(reply)
    result = await explain(make_layer())

    assert result.answer == rule_explanation()
    assert result.usage.fell_back_to_rules
    assert result.usage.tier is InferenceTier.MEDIUM
    assert reason in result.usage.reason
    assert len(openai_stub.requests) == 1
    # A reply that arrived was billed even though it was rejected; one that never arrived was not.
    assert (result.usage.prompt_tokens > 0) is billed
    assert (result.usage.cost_usd > 0) is billed


async def test_a_slow_endpoint_times_out_and_falls_back(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(slow(5.0, json.dumps(GOOD_EXPLANATION)))
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
    config = InferenceConfig(
        tiers={
            InferenceTier.MEDIUM: TierModel(
                client=OpenAIChatClient(
                    base_url="http://127.0.0.1:9/v1", model="m", api_key=None, timeout_seconds=TIMEOUT_SECONDS
                ),
                price=MEDIUM_PRICE,
            )
        },
        monthly_budget_usd=100.0,
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
    openai_stub.script(answer(json.dumps(FIGURELESS_EXPLANATION)))
    recovered = await explain(layer)
    assert not recovered.usage.fell_back_to_rules
    assert len(openai_stub.requests) == 4
    assert not (await explain(layer, savings=1500.0)).usage.fell_back_to_rules
    assert len(openai_stub.requests) == 5


async def test_rejected_answers_count_as_breaker_failures(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer(threshold=2)
    openai_stub.script(answer("not json"))
    await explain(layer)
    await explain(layer, savings=1500.0)
    assert "circuit breaker open" in (await explain(layer, savings=1200.0)).usage.reason
    assert len(openai_stub.requests) == 2


async def test_a_success_resets_the_failure_count(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    layer = make_layer(threshold=2)
    openai_stub.script(server_error(), answer(json.dumps(FIGURELESS_EXPLANATION)), server_error())
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
    openai_stub.script(answer(json.dumps(GOOD_EXPLANATION), prompt_tokens=300, completion_tokens=80))
    first = await explain(layer)
    again = await explain(layer, spent=1_000_000.0)  # a cache hit costs nothing, so the budget is moot

    assert len(openai_stub.requests) == 1
    assert again.answer == first.answer
    assert again.usage.cached
    assert (again.usage.prompt_tokens, again.usage.completion_tokens, again.usage.cost_usd) == (0, 0, 0.0)
    assert not again.usage.fell_back_to_rules


async def test_a_different_question_is_not_a_cache_hit(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    layer = make_layer()
    openai_stub.script(answer(json.dumps(FIGURELESS_EXPLANATION)))
    await explain(layer)
    other = await explain(layer, savings=1500.0)
    assert len(openai_stub.requests) == 2
    assert not other.usage.cached
    assert not other.usage.fell_back_to_rules


async def test_rejected_answers_are_not_cached(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    layer = make_layer()
    openai_stub.script(answer("not json"), answer(json.dumps(GOOD_EXPLANATION)))
    assert (await explain(layer)).usage.fell_back_to_rules
    second = await explain(layer)
    assert not second.usage.fell_back_to_rules
    assert not second.usage.cached
    assert len(openai_stub.requests) == 2


# Budget


@pytest.mark.parametrize("spent", [25.0, 30.0])
async def test_exhausted_budget_answers_with_rules_without_calling(
    openai_stub: OpenAIStub, make_layer: LayerFactory, spent: float
) -> None:
    openai_stub.script(answer(json.dumps(GOOD_EXPLANATION)))
    result = await explain(make_layer(budget=25.0), spent=spent)
    assert result.answer == rule_explanation()
    assert result.usage.fell_back_to_rules
    assert result.usage.reason == f"monthly budget spent (${spent:.2f} of $25.00)"
    assert result.usage.cost_usd == 0.0
    assert openai_stub.requests == []


async def test_budget_left_allows_the_call(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    openai_stub.script(answer(json.dumps(GOOD_EXPLANATION)))
    result = await explain(make_layer(budget=25.0), spent=24.99)
    assert not result.usage.fell_back_to_rules
    assert len(openai_stub.requests) == 1


# No model configured


async def test_no_tier_configured_means_rules_and_no_http(openai_stub: OpenAIStub) -> None:
    layer = InferenceLayer()
    result = await explain(layer)
    assert result.answer == rule_explanation()
    assert result.usage.tier is InferenceTier.RULES
    assert result.usage.reason == "no model tier configured for explanation tasks"
    assert not result.usage.fell_back_to_rules
    assert (result.usage.model, result.usage.cost_usd) == ("", 0.0)
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
    result = await layer.answer(ClassifyUrgency("URGENT: fleet down"), spent_this_month_usd=0.0)
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
    openai_stub.script(answer(json.dumps(GOOD_EXPLANATION)), answer('{"urgent": true}'))
    explained = await explain(layer)
    classified = await layer.answer(ClassifyUrgency("disk at 91%"), spent_this_month_usd=0.0)

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
