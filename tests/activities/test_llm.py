"""The explain_proposal activity: answers through the inference layer for the customer's recorded privacy
tier and today's spend, records every answer's calls, tokens and cost under the calling workflow, and holds
each customer to the daily budget summed from those records."""

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities
from agents.reasoning.explanations import ExplainProposal, ProposalExplanation
from agents.reasoning.layering import Inference, InferenceLayer
from agents.reasoning.tasks import AnswerT, ReasoningTask
from agents.reasoning.tenant import Tenant
from optiinfra.domain.fleet import Customer
from optiinfra.llm.config import BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage
from optiinfra.privacy.consent import set_privacy_tier
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository
from tests.agents.reasoning.proposals import spot_proposal
from tests.support.openai_stub import OpenAIStub, answer, malformed
from workflows.contracts import ExplainRequest, ExplainResult

Sessions = async_sessionmaker[AsyncSession]

EXPLANATION = {
    "summary": "One batch replica moves to spot and saves $1,997.43 a month.",
    "key_factors": ["Stateless, non-critical workload"],
    "risks": ["Spot capacity can be reclaimed"],
}
FIGURELESS = {**EXPLANATION, "summary": "Moves a replica to spot."}
# 1,000 prompt and 1,000 completion tokens at these prices cost $3.00.
PRICE = TokenPrice(input_usd_per_1k=1.0, output_usd_per_1k=2.0)
# An explanation's prompt is about 400 tokens: each call is estimated at about $0.60 with this cap.
MAX_COMPLETION_TOKENS = 100


@pytest.fixture
async def layer(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    client = OpenAIChatClient(
        base_url=openai_stub.base_url, model="medium", api_key=None, timeout_seconds=10.0
    )
    config = InferenceConfig(
        tiers={InferenceTier.MEDIUM: TierModel(client=client, price=PRICE)},
        budget=BudgetPolicy(daily_budget_usd=5.0, max_completion_tokens=MAX_COMPLETION_TOKENS),
    )
    layer = InferenceLayer(config)
    yield layer
    await layer.aclose()


async def explain_in(
    workflow_id: str, activities: LlmActivities, *, savings: float = 1997.43, customer_id: str = "acme"
) -> ExplainResult:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=workflow_id)
    request = ExplainRequest(customer_id=customer_id, proposal=spot_proposal(savings=savings))
    result: ExplainResult = await environment.run(activities.explain_proposal, request)
    return result


async def test_model_answer_and_its_cost_are_recorded_under_the_workflow(
    openai_stub: OpenAIStub, layer: InferenceLayer, sessions: Sessions
) -> None:
    openai_stub.script(answer(json.dumps(EXPLANATION), prompt_tokens=1000, completion_tokens=1000))
    result = await explain_in("wf-1", LlmActivities(layer, sessions))

    assert result.explanation == ProposalExplanation.model_validate(EXPLANATION)
    assert result.usage.cost_usd == pytest.approx(3.0)
    async with sessions() as session:
        [recorded] = await repository.list_llm_usage(session=session, workflow_id="wf-1")
        spent = await repository.spent_today(session=session, customer_id="acme")
    assert (recorded.customer_id, recorded.task, recorded.model) == ("acme", "explain_proposal", "medium")
    assert (recorded.prompt_tokens, recorded.completion_tokens) == (1000, 1000)
    assert (recorded.calls, recorded.repairs) == (1, 0)
    assert spent == pytest.approx(3.0)


async def test_a_repaired_answer_records_every_calls_tokens_and_cost(
    openai_stub: OpenAIStub, layer: InferenceLayer, sessions: Sessions
) -> None:
    openai_stub.script(
        malformed(prompt_tokens=400, completion_tokens=50),
        answer(json.dumps(EXPLANATION), prompt_tokens=600, completion_tokens=150),
    )
    result = await explain_in("wf-1", LlmActivities(layer, sessions))

    assert result.explanation == ProposalExplanation.model_validate(EXPLANATION)
    async with sessions() as session:
        [recorded] = await repository.list_llm_usage(session=session, workflow_id="wf-1")
    assert (recorded.calls, recorded.repairs) == (2, 1)
    assert (recorded.prompt_tokens, recorded.completion_tokens) == (1000, 200)
    assert recorded.cost_usd == pytest.approx(1.0 + 0.4)
    assert not recorded.fell_back_to_rules


async def test_answers_that_fall_back_after_repairs_are_still_billed(
    openai_stub: OpenAIStub, layer: InferenceLayer, sessions: Sessions
) -> None:
    openai_stub.script(malformed(prompt_tokens=100, completion_tokens=100))
    result = await explain_in("wf-1", LlmActivities(layer, sessions))

    assert result.explanation == ExplainProposal(spot_proposal()).rule_answer()
    async with sessions() as session:
        [recorded] = await repository.list_llm_usage(session=session, workflow_id="wf-1")
        spent = await repository.spent_today(session=session, customer_id="acme")
    assert recorded.fell_back_to_rules
    assert (recorded.calls, recorded.repairs, recorded.prompt_tokens) == (3, 2, 300)
    assert recorded.cost_usd == pytest.approx(3 * 0.3)
    assert spent == pytest.approx(0.9)


async def test_recorded_spend_exhausts_the_daily_budget_for_that_customer_only(
    openai_stub: OpenAIStub, layer: InferenceLayer, sessions: Sessions
) -> None:
    openai_stub.script(answer(json.dumps(FIGURELESS), prompt_tokens=1000, completion_tokens=1000))
    activities = LlmActivities(layer, sessions)
    await explain_in("wf-1", activities, savings=1000.0)
    await explain_in("wf-2", activities, savings=1100.0)  # $6.00 spent of the $5.00 budget
    over_budget = await explain_in("wf-3", activities, savings=1200.0)
    other_customer = await explain_in("wf-4", activities, savings=1200.0, customer_id="globex")

    assert len(openai_stub.requests) == 3
    assert over_budget.usage.fell_back_to_rules
    assert over_budget.usage.reason == "daily budget spent ($6.00 of $5.00)"
    assert over_budget.explanation == ExplainProposal(spot_proposal(savings=1200.0)).rule_answer()
    assert not other_customer.usage.fell_back_to_rules
    async with sessions() as session:
        recorded = await repository.list_llm_usage(session=session, workflow_id="wf-3")
    assert [(u.fell_back_to_rules, u.cost_usd, u.calls) for u in recorded] == [(True, 0.0, 0)]


async def test_rules_only_layer_explains_without_a_model(sessions: Sessions) -> None:
    result = await explain_in("wf-1", LlmActivities(InferenceLayer(), sessions))
    assert result.explanation == ExplainProposal(spot_proposal()).rule_answer()
    assert result.usage.tier is InferenceTier.RULES
    async with sessions() as session:
        [recorded] = await repository.list_llm_usage(session=session, workflow_id="wf-1")
    assert (recorded.tier, recorded.cost_usd) == (InferenceTier.RULES, 0.0)


class TenantRecorder(InferenceLayer):
    """A rules-only layer that notes who each task was answered for."""

    def __init__(self) -> None:
        super().__init__()
        self.tenants: list[Tenant] = []

    async def answer(self, task: ReasoningTask[AnswerT], *, tenant: Tenant) -> Inference[AnswerT]:
        self.tenants.append(tenant)
        return await super().answer(task, tenant=tenant)


async def test_the_customers_recorded_privacy_tier_and_todays_spend_reach_the_layer(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        await repository.upsert_customer(session=session, customer=Customer(customer_id="acme", name="Acme"))
        await set_privacy_tier(
            session=session, customer_id="acme", tier=PrivacyTier.CONTENT, changed_by="ops@acme.test"
        )
        await repository.record_llm_usage(
            session=session,
            workflow_id="wf-0",
            customer_id="acme",
            usage=LlmUsage(task="explain_proposal", tier=InferenceTier.MEDIUM, cost_usd=1.25, calls=1),
        )
    recorder = TenantRecorder()
    activities = LlmActivities(recorder, sessions)
    await explain_in("wf-1", activities)
    await explain_in("wf-2", activities, customer_id="unregistered")

    assert recorder.tenants == [
        Tenant(customer_id="acme", privacy_tier=PrivacyTier.CONTENT, spent_today_usd=1.25),
        Tenant(customer_id="unregistered", privacy_tier=PrivacyTier.METRICS_ONLY, spent_today_usd=0.0),
    ]
