"""The coordination activities against a real migrated store (SQLite and PostgreSQL): coordinate_proposals
finds the conflicts and resolves them by rules, or through the inference layer when the customer asks for
joint reasoning (recording the model's usage under the calling workflow, and noting when the rules had to
answer); record_conflicts stores them for GET /v1/conflicts, replacing a retried run's rows."""

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.coordination import CoordinationActivities
from agents.coordination.conflicts import detect_conflicts
from agents.coordination.resolution import resolve_by_rules
from agents.reasoning.layering import InferenceLayer
from optiinfra.domain.coordination import ConflictKind, CustomerConstraints, ResolutionMethod
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal
from optiinfra.llm.config import BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.store import repository
from optiinfra.store.conflicts import list_conflicts
from tests.agents.coordination import (
    OTHER_DEPLOYMENT,
    context_right_sizing,
    kv_tiering,
    right_sizing,
    scale_up,
)
from tests.support.openai_stub import OpenAIStub, answer
from workflows.contracts import ConflictRecord, CoordinationRequest, CoordinationResult

Sessions = async_sessionmaker[AsyncSession]

WORKFLOW_ID = "joint/acme/chat-8b/1"
PERF, RESOURCE, COST, APP = AgentKind.PERFORMANCE, AgentKind.RESOURCE, AgentKind.COST, AgentKind.APPLICATION


@pytest.fixture
async def model_layer(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    client = OpenAIChatClient(
        base_url=openai_stub.base_url, model="frontier-model", api_key=None, timeout_seconds=10.0
    )
    config = InferenceConfig(
        tiers={InferenceTier.FRONTIER: TierModel(client=client, price=TokenPrice(input_usd_per_1k=1.0))},
        budget=BudgetPolicy(daily_budget_usd=10.0, max_completion_tokens=256),
    )
    layer = InferenceLayer(config)
    yield layer
    await layer.aclose()


def in_workflow(workflow_id: str = WORKFLOW_ID) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=workflow_id)
    return environment


async def coordinate(
    activities: CoordinationActivities,
    candidates: list[Proposal],
    constraints: CustomerConstraints | None = None,
    slo_compliance: float | None = None,
) -> CoordinationResult:
    request = CoordinationRequest(
        customer_id="acme",
        candidates=candidates,
        constraints=constraints or CustomerConstraints(),
        slo_compliance=slo_compliance,
    )
    result: CoordinationResult = await in_workflow().run(activities.coordinate_proposals, request)
    return result


async def record(activities: CoordinationActivities, record: ConflictRecord) -> None:
    await in_workflow(record.joint_workflow_id).run(activities.record_conflicts, record)


def record_of(
    candidates: list[Proposal], *, workflow_id: str, customer_id: str = "acme", workload_id: str = "chat-8b"
) -> ConflictRecord:
    conflicts = detect_conflicts(candidates)
    plan = resolve_by_rules(candidates, conflicts, CustomerConstraints())
    return ConflictRecord(
        joint_workflow_id=workflow_id,
        customer_id=customer_id,
        workload_id=workload_id,
        conflicts=conflicts,
        resolutions=plan.resolutions,
    )


async def test_coordinate_by_rules_returns_conflicts_resolutions_and_the_accepted_plan(
    sessions: Sessions,
) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    result = await coordinate(
        activities, [right_sizing(), scale_up(), context_right_sizing(OTHER_DEPLOYMENT)]
    )

    assert [(c.conflict_id, c.kind, c.agents) for c in result.conflicts] == [
        ("c1", ConflictKind.OPPOSITE_SCALING, [COST, PERF]),
        ("c2", ConflictKind.RESOURCE_CONTENTION, [COST, APP]),
    ]
    assert [(r.conflict_id, r.method, r.winner, r.set_aside) for r in result.resolutions] == [
        ("c1", ResolutionMethod.PRIORITY, PERF, [COST]),
        ("c2", ResolutionMethod.PRIORITY, APP, [COST]),
    ]
    assert [p.agent for p in result.accepted] == [PERF, APP]  # in priority order
    assert result.notes == []
    # No model was in question: nothing is billed to the workflow.
    async with sessions() as session:
        assert await repository.list_llm_usage(session=session, workflow_id=WORKFLOW_ID) == []


async def test_constraints_are_applied_and_refusals_noted(sessions: Sessions) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    constraints = CustomerConstraints(max_monthly_cost_increase_usd=500.0, min_slo_compliance=0.95)
    refusal = (
        "Scale chat-8b from 3 to 4 replicas ahead of the forecast peak adds $1,787/month, over the "
        "customer's limit of $500/month"
    )

    healthy = await coordinate(activities, [scale_up(), right_sizing()], constraints, slo_compliance=0.99)
    assert [(r.method, r.winner, r.set_aside) for r in healthy.resolutions] == [
        (ResolutionMethod.CONSTRAINT, COST, [PERF])
    ]
    assert [p.agent for p in healthy.accepted] == [COST]
    assert healthy.notes == [f"set aside by the customer's constraints: {refusal}"]

    # While the SLO is missed too often, the right-sizing (less capacity) is refused as well.
    missing = await coordinate(activities, [scale_up(), right_sizing()], constraints, slo_compliance=0.9)
    assert [(r.method, r.winner, r.set_aside) for r in missing.resolutions] == [
        (ResolutionMethod.CONSTRAINT, None, [PERF, COST])
    ]
    assert missing.accepted == []
    assert len(missing.notes) == 2


async def test_joint_reasoning_without_a_model_falls_back_to_the_rules_and_says_so(
    sessions: Sessions,
) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)  # rules only
    candidates = [scale_up(), right_sizing()]
    by_rules = await coordinate(activities, candidates)
    joint = await coordinate(activities, candidates, CustomerConstraints(joint_reasoning=True))

    assert joint.notes == [
        "joint reasoning fell back to the priority rules: no model tier configured for joint_resolution tasks"
    ]
    assert (joint.conflicts, joint.resolutions, joint.accepted) == (
        by_rules.conflicts,
        by_rules.resolutions,
        by_rules.accepted,
    )
    assert joint.resolutions[0].written_by == "rules"
    # The rule answer is on record under the workflow, free.
    async with sessions() as session:
        [usage] = await repository.list_llm_usage(session=session, workflow_id=WORKFLOW_ID)
    assert (usage.customer_id, usage.task, usage.tier, usage.cost_usd) == (
        "acme",
        "resolve_conflicts",
        InferenceTier.RULES,
        0.0,
    )


async def test_joint_reasoning_with_no_conflicts_asks_nobody(sessions: Sessions) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    result = await coordinate(
        activities, [scale_up(), kv_tiering(OTHER_DEPLOYMENT)], CustomerConstraints(joint_reasoning=True)
    )
    assert (result.conflicts, result.resolutions, result.notes) == ([], [], [])
    assert [p.agent for p in result.accepted] == [PERF, RESOURCE]
    async with sessions() as session:
        assert await repository.list_llm_usage(session=session, workflow_id=WORKFLOW_ID) == []


async def test_joint_reasoning_uses_a_consistent_model_answer(
    sessions: Sessions, model_layer: InferenceLayer, openai_stub: OpenAIStub
) -> None:
    reply = {"decisions": [{"conflict_id": "c1", "winner": "cost", "reason": "The peak is passing."}]}
    openai_stub.script(answer(json.dumps(reply), prompt_tokens=1000, completion_tokens=50))
    activities = CoordinationActivities(model_layer, sessions)

    result = await coordinate(
        activities, [scale_up(), right_sizing()], CustomerConstraints(joint_reasoning=True)
    )

    assert result.notes == []
    [resolution] = result.resolutions
    assert (resolution.method, resolution.winner, resolution.set_aside, resolution.reason) == (
        ResolutionMethod.JOINT_REASONING,
        COST,
        [PERF],
        "The peak is passing.",
    )
    assert resolution.written_by == "frontier:frontier-model"
    assert [p.agent for p in result.accepted] == [COST]
    async with sessions() as session:
        [usage] = await repository.list_llm_usage(session=session, workflow_id=WORKFLOW_ID)
    assert (usage.tier, usage.model, usage.prompt_tokens) == (InferenceTier.FRONTIER, "frontier-model", 1000)
    assert usage.cost_usd == pytest.approx(1.0)


async def test_recorded_conflicts_are_listed_and_a_retry_replaces_them(sessions: Sessions) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    first = record_of(
        [scale_up(), right_sizing(), context_right_sizing(OTHER_DEPLOYMENT)], workflow_id=WORKFLOW_ID
    )
    await record(activities, first)

    async with sessions() as session:
        stored = await list_conflicts(session=session)
    assert sorted((s.conflict.conflict_id, s.conflict.kind) for s in stored) == [
        ("c1", ConflictKind.OPPOSITE_SCALING),
        ("c2", ConflictKind.RESOURCE_CONTENTION),
    ]
    by_id = {s.conflict.conflict_id: s for s in stored}
    for conflict, resolution in zip(first.conflicts, first.resolutions, strict=True):
        assert by_id[conflict.conflict_id].conflict == conflict
        assert by_id[conflict.conflict_id].resolution == resolution
        assert (by_id[conflict.conflict_id].joint_workflow_id, by_id[conflict.conflict_id].customer_id) == (
            WORKFLOW_ID,
            "acme",
        )

    # A retried activity writes the same rows again, not a second copy.
    await record(activities, first)
    async with sessions() as session:
        again = await list_conflicts(session=session)
    assert sorted(s.conflict.conflict_id for s in again) == ["c1", "c2"]

    # What the run records last is what stands.
    narrower = record_of([scale_up(), right_sizing()], workflow_id=WORKFLOW_ID)
    await record(activities, narrower)
    async with sessions() as session:
        [only] = await list_conflicts(session=session)
    assert (only.conflict.conflict_id, only.conflict.kind) == ("c1", ConflictKind.OPPOSITE_SCALING)


async def test_a_conflict_without_a_resolution_is_stored_without_one(sessions: Sessions) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    unresolved = record_of([scale_up(), right_sizing()], workflow_id=WORKFLOW_ID).model_copy(
        update={"resolutions": []}
    )
    await record(activities, unresolved)
    async with sessions() as session:
        [stored] = await list_conflicts(session=session)
    assert stored.resolution is None


async def test_listing_filters_by_customer_and_workload_newest_first(sessions: Sessions) -> None:
    activities = CoordinationActivities(InferenceLayer(), sessions)
    pair = [scale_up(), right_sizing()]
    runs = [
        ("joint/acme/chat-8b/1", "acme", "chat-8b"),
        ("joint/acme/summarize-70b/1", "acme", "summarize-70b"),
        ("joint/globex/chat-8b/1", "globex", "chat-8b"),
        ("joint/acme/chat-8b/2", "acme", "chat-8b"),
    ]
    for workflow_id, customer_id, workload_id in runs:
        await record(
            activities,
            record_of(pair, workflow_id=workflow_id, customer_id=customer_id, workload_id=workload_id),
        )

    async def listed(customer_id: str | None = None, workload_id: str | None = None) -> list[str]:
        async with sessions() as session:
            found = await list_conflicts(session=session, customer_id=customer_id, workload_id=workload_id)
        return [s.joint_workflow_id for s in found]

    assert await listed() == [
        "joint/acme/chat-8b/2",
        "joint/globex/chat-8b/1",
        "joint/acme/summarize-70b/1",
        "joint/acme/chat-8b/1",
    ]
    assert await listed(customer_id="acme") == [
        "joint/acme/chat-8b/2",
        "joint/acme/summarize-70b/1",
        "joint/acme/chat-8b/1",
    ]
    assert await listed(workload_id="chat-8b") == [
        "joint/acme/chat-8b/2",
        "joint/globex/chat-8b/1",
        "joint/acme/chat-8b/1",
    ]
    assert await listed(customer_id="acme", workload_id="chat-8b") == [
        "joint/acme/chat-8b/2",
        "joint/acme/chat-8b/1",
    ]
    assert await listed(customer_id="initech") == []
    async with sessions() as session:
        newest = await list_conflicts(session=session, limit=1)
    assert [s.joint_workflow_id for s in newest] == ["joint/acme/chat-8b/2"]
