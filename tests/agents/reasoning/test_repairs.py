"""The reasoning graph's repairs against the live stub: an invalid draft is sent back with what was wrong
and the corrected answer is used; every call is billed; a repair still passes the budget and the breaker;
after two failed repairs the rules answer."""

import json

import pytest

from agents.reasoning.explanations import ProposalExplanation
from agents.reasoning.graph import MAX_REPAIRS, build_reasoning_graph
from tests.agents.reasoning.layers import (
    FIGURELESS_JSON,
    GOOD_EXPLANATION,
    GOOD_JSON,
    LayerFactory,
    explain,
    rule_explanation,
)
from tests.support.openai_stub import OpenAIStub, answer, malformed, schema_invalid, server_error

PRICE_PER_CALL = (120 * 0.5 + 40 * 1.5) / 1000  # the stub's default token counts at MEDIUM_PRICE


def test_the_graph_has_draft_validate_repair_and_fallback() -> None:
    nodes = set(build_reasoning_graph().get_graph().nodes)
    assert {"draft", "validate", "repair", "fallback"} <= nodes
    assert MAX_REPAIRS == 2


async def test_malformed_json_is_repaired_on_the_second_call(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    truncated = '{"summary": "Moving one batch replica'
    openai_stub.script(
        malformed(truncated, prompt_tokens=300, completion_tokens=10),
        answer(GOOD_JSON, prompt_tokens=420, completion_tokens=80),
    )
    result = await explain(make_layer())

    assert result.answer == ProposalExplanation.model_validate(GOOD_EXPLANATION)
    usage = result.usage
    assert not usage.fell_back_to_rules
    assert (usage.calls, usage.repairs) == (2, 1)
    assert (usage.prompt_tokens, usage.completion_tokens) == (720, 90)
    assert usage.cost_usd == pytest.approx((720 * 0.5 + 90 * 1.5) / 1000)

    draft, repair = openai_stub.requests
    # The repair resends the original messages, then the rejected answer, then what was wrong with it.
    assert repair["messages"][:2] == draft["messages"]
    assert repair["messages"][2] == {"role": "assistant", "content": truncated}
    correction = repair["messages"][3]
    assert correction["role"] == "user"
    assert correction["content"].startswith("Your answer is not valid JSON (Invalid JSON: EOF while parsing")
    assert "corrected JSON object" in correction["content"]
    assert '"key_factors"' in correction["content"]  # the answer's JSON schema
    assert repair["max_tokens"] == draft["max_tokens"]


async def test_two_schema_invalid_answers_then_a_valid_one_is_used(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(
        schema_invalid({"summary": "Saves money."}),
        schema_invalid({**GOOD_EXPLANATION, "key_factors": []}),
        answer(FIGURELESS_JSON),
    )
    result = await explain(make_layer())

    assert result.answer == ProposalExplanation.model_validate_json(FIGURELESS_JSON)
    assert (result.usage.calls, result.usage.repairs) == (3, 2)
    assert result.usage.cost_usd == pytest.approx(3 * PRICE_PER_CALL)
    first_repair, second_repair = (request["messages"][-1]["content"] for request in openai_stub.requests[1:])
    assert "does not match the schema: key_factors: Field required" in first_repair
    assert "does not match the schema: key_factors: List should have at least 1 item" in second_repair
    # Each repair carries only the latest rejected answer, not the whole history.
    assert len(openai_stub.requests[2]["messages"]) == 4
    assert json.loads(openai_stub.requests[2]["messages"][2]["content"])["key_factors"] == []


async def test_a_rejected_figure_is_repaired(openai_stub: OpenAIStub, make_layer: LayerFactory) -> None:
    openai_stub.script(
        answer(json.dumps({**GOOD_EXPLANATION, "summary": "Saves $2,400 a month."})), answer(GOOD_JSON)
    )
    result = await explain(make_layer())
    assert result.answer.summary == GOOD_EXPLANATION["summary"]
    assert result.usage.repairs == 1
    repair_request = openai_stub.requests[1]["messages"][-1]["content"]
    assert "was rejected: dollar figures not in the proposal: $2,400" in repair_request


async def test_three_invalid_answers_leave_the_rules_with_the_last_problem(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(
        malformed(),
        schema_invalid({"summary": "Saves money."}),
        schema_invalid({**GOOD_EXPLANATION, "risks": "none"}),
        answer(GOOD_JSON),  # never asked for
    )
    result = await explain(make_layer())

    assert result.answer == rule_explanation()
    assert result.usage.fell_back_to_rules
    assert result.usage.reason == (
        "medium tier answer does not match the schema: risks: Input should be a valid array (after 2 repairs)"
    )
    assert len(openai_stub.requests) == 3
    assert (result.usage.calls, result.usage.repairs) == (3, 2)
    assert result.usage.cost_usd == pytest.approx(3 * PRICE_PER_CALL)


async def test_a_failed_repair_call_falls_back_with_both_reasons_and_the_draft_billed(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    openai_stub.script(malformed(), server_error(500))
    result = await explain(make_layer())

    assert result.answer == rule_explanation()
    assert result.usage.reason.startswith("medium tier answer is not valid JSON")
    assert result.usage.reason.endswith("(after 1 repair); medium tier call failed: HTTP 500")
    assert (result.usage.calls, result.usage.repairs) == (2, 1)
    assert result.usage.cost_usd == pytest.approx(PRICE_PER_CALL)


async def test_a_repair_the_budget_has_no_room_for_is_not_sent(
    openai_stub: OpenAIStub, make_layer: LayerFactory
) -> None:
    """The draft fits the budget; once it is billed, the repair's estimate no longer does."""
    layer = make_layer(budget=1.0, downgrade_fraction=1.0, max_completion_tokens=100)
    openai_stub.script(malformed(prompt_tokens=1000, completion_tokens=400))  # bills $1.10
    result = await explain(layer)

    assert len(openai_stub.requests) == 1
    assert result.answer == rule_explanation()
    assert result.usage.reason.startswith("medium tier answer is not valid JSON")
    assert "; daily budget has no room for another call ($1.10 of $1.00 spent today" in result.usage.reason
    assert (result.usage.calls, result.usage.repairs) == (1, 0)
    assert result.usage.cost_usd == pytest.approx(1.1)
