"""ResolveConflicts through the real inference layer, over HTTP against the OpenAI-compatible stub: a
consistent model answer is used (even against the priority rules, when the constraints allow it); an
inconsistent one is sent back for repair and, if it stays inconsistent, the rules answer; with no
conflicts the rules settle it and no model is asked."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.coordination.conflicts import detect_conflicts
from agents.coordination.joint_reasoning import SYSTEM_PROMPT, JointAnswer, ResolveConflicts
from agents.coordination.resolution import JointPlan, plan_from_resolutions, resolve_by_rules
from agents.reasoning.graph import MAX_REPAIRS
from agents.reasoning.layering import Inference, InferenceLayer
from agents.reasoning.tenant import Tenant
from optiinfra.domain.coordination import CustomerConstraints, ResolutionMethod
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal
from optiinfra.llm.config import BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from tests.agents.coordination import right_sizing, scale_up
from tests.support.openai_stub import OpenAIStub, answer

FRONTIER_MODEL = "frontier-model"
PRICE = TokenPrice(input_usd_per_1k=3.0, output_usd_per_1k=15.0)
NO_CONSTRAINTS = CustomerConstraints(joint_reasoning=True)
COST_CAP = CustomerConstraints(max_monthly_cost_increase_usd=1000.0, joint_reasoning=True)
COST_REASON = "The latency miss is forecast to pass within the hour; the saving is certain."


@pytest.fixture
async def layer(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    """A frontier tier (what joint resolution is routed to) on the stub."""
    client = OpenAIChatClient(
        base_url=openai_stub.base_url, model=FRONTIER_MODEL, api_key="test-key", timeout_seconds=10.0
    )
    config = InferenceConfig(
        tiers={InferenceTier.FRONTIER: TierModel(client=client, price=PRICE)},
        budget=BudgetPolicy(daily_budget_usd=100.0, max_completion_tokens=512),
    )
    layer = InferenceLayer(config)
    yield layer
    await layer.aclose()


def task_for(
    candidates: list[Proposal], constraints: CustomerConstraints, slo_compliance: float | None = 0.97
) -> ResolveConflicts:
    conflicts = detect_conflicts(candidates)
    rules = resolve_by_rules(candidates, conflicts, constraints, slo_compliance)
    return ResolveConflicts(candidates, conflicts, rules.resolutions, constraints, slo_compliance)


def decisions(*items: tuple[str, str | None, str]) -> str:
    return json.dumps(
        {"decisions": [{"conflict_id": c, "winner": w, "reason": reason} for c, w, reason in items]}
    )


async def ask(layer: InferenceLayer, task: ResolveConflicts) -> Inference[JointAnswer]:
    return await layer.answer(task, tenant=Tenant(customer_id="acme"))


def plan_of(task: ResolveConflicts, inference: Inference[JointAnswer]) -> JointPlan | str:
    """What the coordination activity makes of an answer."""
    written_by = f"{inference.usage.tier}:{inference.usage.model}"
    resolutions = inference.answer.resolutions(task.conflicts, ResolutionMethod.JOINT_REASONING, written_by)
    return plan_from_resolutions(
        task.candidates, task.conflicts, resolutions, task.constraints, task.slo_compliance
    )


async def test_a_consistent_answer_choosing_cost_over_performance_is_used(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    task = task_for([scale_up(), right_sizing()], NO_CONSTRAINTS)
    assert task.rule_answer().decisions[0].winner is AgentKind.PERFORMANCE  # what the rules would do
    openai_stub.script(
        answer(decisions(("c1", "cost", COST_REASON)), prompt_tokens=900, completion_tokens=60)
    )

    inference = await ask(layer, task)

    usage = inference.usage
    assert not usage.fell_back_to_rules
    assert (usage.task, usage.tier, usage.model) == (
        "resolve_conflicts",
        InferenceTier.FRONTIER,
        FRONTIER_MODEL,
    )
    assert (usage.calls, usage.repairs) == (1, 0)
    assert usage.cost_usd == pytest.approx((900 * 3.0 + 60 * 15.0) / 1000)
    [chosen] = inference.answer.decisions
    assert (chosen.conflict_id, chosen.winner, chosen.reason) == ("c1", AgentKind.COST, COST_REASON)

    plan = plan_of(task, inference)
    assert isinstance(plan, JointPlan)
    assert [p.agent for p in plan.accepted] == [AgentKind.COST]
    [resolution] = plan.resolutions
    assert (resolution.method, resolution.winner, resolution.set_aside) == (
        ResolutionMethod.JOINT_REASONING,
        AgentKind.COST,
        [AgentKind.PERFORMANCE],
    )
    assert resolution.written_by == f"frontier:{FRONTIER_MODEL}"

    # One request, to the frontier model, with the facts and nothing the model does not need.
    [request] = openai_stub.requests
    assert request["model"] == FRONTIER_MODEL
    system, user = request["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    facts: dict[str, Any] = json.loads(user["content"])
    assert [p["agent"] for p in facts["proposals"]] == ["performance", "cost"]
    assert facts["proposals"][0]["monthly_cost_increase_usd"] == pytest.approx(1787.04)
    assert [c["conflict_id"] for c in facts["conflicts"]] == ["c1"]
    assert facts["conflicts"][0]["kind"] == "opposite_scaling"
    assert facts["constraints"] == {"max_monthly_cost_increase_usd": None, "min_slo_compliance": None}
    assert facts["slo_compliance"] == 0.97
    assert "steps" not in facts["proposals"][0]  # instance ids and Deployment arguments stay out


async def test_an_answer_naming_both_sides_is_repaired(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    task = task_for([scale_up(), right_sizing()], NO_CONSTRAINTS)
    both = decisions(("c1", "performance", "Latency first."), ("c1", "cost", "Savings too."))
    openai_stub.script(answer(both), answer(decisions(("c1", "cost", COST_REASON))))

    inference = await ask(layer, task)

    assert not inference.usage.fell_back_to_rules
    assert (inference.usage.calls, inference.usage.repairs) == (2, 1)
    assert [d.winner for d in inference.answer.decisions] == [AgentKind.COST]
    correction = openai_stub.requests[1]["messages"][-1]["content"]
    assert "was rejected: conflicts resolved more than once: c1" in correction


async def test_an_answer_whose_winner_is_not_a_side_falls_back_to_the_rules(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    task = task_for([scale_up(), right_sizing()], NO_CONSTRAINTS)
    openai_stub.script(answer(decisions(("c1", "resource", "Memory matters most."))))  # repeats

    inference = await ask(layer, task)

    usage = inference.usage
    assert usage.fell_back_to_rules
    assert (usage.calls, usage.repairs) == (1 + MAX_REPAIRS, MAX_REPAIRS)
    assert usage.reason == (
        "frontier tier answer was rejected: c1: resource is not a side of this conflict (after 2 repairs)"
    )
    assert inference.answer == task.rule_answer()
    assert [d.winner for d in inference.answer.decisions] == [AgentKind.PERFORMANCE]
    assert len(openai_stub.requests) == 1 + MAX_REPAIRS


async def test_an_answer_breaking_a_constraint_is_repaired(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    """Under a $1,000 cap the scale-up is refused, so an answer that picks it is repaired; the corrected
    answer (cost) is consistent and used."""
    task = task_for([scale_up(), right_sizing()], COST_CAP)
    openai_stub.script(
        answer(decisions(("c1", "performance", "The SLO comes first."))),
        answer(decisions(("c1", "cost", "The scale-up is over the customer's limit."))),
    )

    inference = await ask(layer, task)

    assert (inference.usage.calls, inference.usage.repairs) == (2, 1)
    correction = openai_stub.requests[1]["messages"][-1]["content"]
    assert "accepts a change the constraints refuse" in correction
    assert "over the customer's limit of $1,000/month" in correction
    plan = plan_of(task, inference)
    assert isinstance(plan, JointPlan)
    assert [p.agent for p in plan.accepted] == [AgentKind.COST]


async def test_an_answer_leaving_a_conflict_out_is_repaired(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    task = task_for([scale_up(), right_sizing()], NO_CONSTRAINTS)
    openai_stub.script(answer(json.dumps({"decisions": []})), answer(decisions(("c1", None, "Neither now."))))

    inference = await ask(layer, task)

    assert inference.usage.repairs == 1
    assert "conflicts left unresolved: c1" in openai_stub.requests[1]["messages"][-1]["content"]
    plan = plan_of(task, inference)
    assert isinstance(plan, JointPlan) and plan.accepted == []


async def test_no_conflicts_are_settled_by_the_rules_without_a_model_call(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    task = task_for([scale_up()], NO_CONSTRAINTS)
    assert task.conflicts == []

    inference = await ask(layer, task)

    assert inference.answer == JointAnswer(decisions=[])
    assert (inference.usage.tier, inference.usage.model, inference.usage.calls) == (
        InferenceTier.RULES,
        "",
        0,
    )
    assert inference.usage.reason == "settled by rules"
    assert openai_stub.requests == []
