"""The learning activities on a real local Qdrant (files under tmp_path): outcomes recorded through
record_learned_outcome move a similar new recommendation's confidence their way (held up, rolled back
after a regression down) and are cited in its reasoning; a dissimilar workload's or another customer's
outcomes leave it as it was."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.learning import LearningActivities
from optiinfra.domain.enums import RecommendationStatus, RecommendationType, RiskLevel
from optiinfra.domain.learning import LearnedOutcome
from optiinfra.domain.recommendation import Proposal
from optiinfra.learning.store import OutcomeStore
from optiinfra.settings import Settings
from optiinfra.vectors.qdrant import close_qdrant_clients
from tests.agents.learning.outcomes import batch_context, other_context, outcome
from tests.agents.reasoning.proposals import spot_proposal
from workflows.contracts import ConfidenceQuery, ConfidenceResult, LearnedOutcomeRecord

EXECUTED = RecommendationStatus.EXECUTED
ROLLED_BACK = RecommendationStatus.ROLLED_BACK


@pytest.fixture
async def learning(tmp_path: Path) -> AsyncIterator[LearningActivities]:
    yield LearningActivities.from_settings(Settings(_env_file=None, state_dir=tmp_path))
    close_qdrant_clients()


async def record(learning: LearningActivities, *outcomes: LearnedOutcome) -> None:
    for learned in outcomes:
        await ActivityEnvironment().run(
            learning.record_learned_outcome, LearnedOutcomeRecord(outcome=learned)
        )


async def adjust(
    learning: LearningActivities,
    *proposals: Proposal,
    customer_id: str = "acme",
    context: dict[str, float] | None = None,
) -> ConfidenceResult:
    query = ConfidenceQuery(
        customer_id=customer_id,
        workload_id="chat",
        context=batch_context(gpu=62.0, gpu_memory=71.0) if context is None else context,
        proposals=list(proposals),
    )
    return await ActivityEnvironment().run(learning.adjust_confidence, query)


async def test_outcomes_that_held_raise_a_similar_recommendations_confidence(
    learning: LearningActivities,
) -> None:
    await record(learning, *(outcome(f"rec-held-{i}", EXECUTED) for i in range(3)))
    proposal = spot_proposal(confidence=0.8)
    result = await adjust(learning, proposal)
    [adjusted], [adjustment] = result.proposals, result.adjustments
    assert adjusted.confidence > 0.85
    assert adjustment.before == 0.8 and adjustment.after == adjusted.confidence
    assert sorted(c.outcome.recommendation_id for c in adjustment.cited) == [
        "rec-held-0",
        "rec-held-1",
        "rec-held-2",
    ]
    assert all(c.similarity > 0.97 for c in adjustment.cited)
    assert adjusted.reasoning.startswith(proposal.reasoning)
    assert "Past outcomes: 3 similar changes on this customer's fleet — 3 held" in adjusted.reasoning
    assert "(rec rec-held-0, held, similarity" in adjusted.reasoning
    assert f"confidence 0.80 → {adjusted.confidence:.2f}." in adjusted.reasoning


async def test_outcomes_rolled_back_after_a_regression_lower_it(learning: LearningActivities) -> None:
    await record(learning, *(outcome(f"rec-bad-{i}", ROLLED_BACK, regressed=True) for i in range(3)))
    [adjusted] = (await adjust(learning, spot_proposal(confidence=0.8))).proposals
    assert adjusted.confidence < 0.75
    assert "3 rolled back after a regression" in adjusted.reasoning
    assert "(rec rec-bad-0, rolled back after a regression, similarity" in adjusted.reasoning


async def test_mixed_outcomes_move_it_by_their_balance(learning: LearningActivities) -> None:
    await record(
        learning,
        outcome("rec-a", EXECUTED),
        outcome("rec-b", EXECUTED),
        outcome("rec-c", ROLLED_BACK, regressed=True),
    )
    [adjustment] = (await adjust(learning, spot_proposal(confidence=0.8))).adjustments
    assert 0.8 < adjustment.after < 0.85  # one good outcome net, of three
    assert "2 held, 1 rolled back after a regression" in adjustment.note


async def test_a_dissimilar_workloads_outcomes_leave_it_unchanged(learning: LearningActivities) -> None:
    await record(learning, *(outcome(f"rec-far-{i}", ROLLED_BACK, regressed=True) for i in range(3)))
    proposal = spot_proposal(confidence=0.8)
    result = await adjust(learning, proposal, context=other_context())
    assert result.proposals == [proposal]
    assert result.adjustments[0].after == 0.8 and result.adjustments[0].cited == []
    assert "No similar past outcomes" in result.adjustments[0].note


async def test_another_customers_outcomes_leave_it_unchanged(learning: LearningActivities) -> None:
    await record(
        learning,
        *(outcome(f"rec-globex-{i}", ROLLED_BACK, regressed=True, customer_id="globex") for i in range(3)),
    )
    proposal = spot_proposal(confidence=0.8)
    assert (await adjust(learning, proposal, customer_id="acme")).proposals == [proposal]
    # the same query for the customer they belong to does find them
    [theirs] = (await adjust(learning, proposal, customer_id="globex")).proposals
    assert theirs.confidence < 0.8


async def test_each_proposal_is_weighed_by_outcomes_of_its_own_type_in_order(
    learning: LearningActivities,
) -> None:
    await record(learning, *(outcome(f"rec-spot-{i}", EXECUTED) for i in range(3)))
    resize = spot_proposal(confidence=0.7).model_copy(
        update={
            "type": RecommendationType.RIGHT_SIZING,
            "title": "Resize 2 replica(s) of chat",
            "risk_level": RiskLevel.LOW,
        }
    )
    spot = spot_proposal(confidence=0.8)
    result = await adjust(learning, resize, spot)
    assert [p.title for p in result.proposals] == [resize.title, spot.title]
    assert [a.title for a in result.adjustments] == [resize.title, spot.title]
    assert result.proposals[0] == resize  # no right-sizing outcomes yet
    assert result.proposals[1].confidence > 0.8


async def test_recording_the_same_outcome_twice_keeps_one(
    learning: LearningActivities, tmp_path: Path
) -> None:
    await record(learning, outcome("rec-1", EXECUTED), outcome("rec-1", EXECUTED))
    [adjustment] = (await adjust(learning, spot_proposal())).adjustments
    assert [c.outcome.recommendation_id for c in adjustment.cited] == ["rec-1"]
    assert await OutcomeStore.from_settings(Settings(_env_file=None, state_dir=tmp_path)).count() == 1
