"""The pure part of learning: past outcomes move a proposal's confidence in their direction (held up,
rolled back / failed / regressed down, rejected a little down, expired not at all), weighted by similarity,
by more the more of them there are, never past max_shift nor out of [floor, ceiling]; the reasoning cites
them. And what a finished recommendation records."""

import itertools

import pytest
from pydantic import ValidationError

from agents.learning.confidence import (
    ConfidenceParams,
    adjust_confidence,
    learned_outcome,
    outcome_score,
)
from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.learning import LearnedOutcome, SimilarOutcome
from optiinfra.learning.features import (
    PROPOSAL_CURRENT_MONTHLY_COST_USD,
    PROPOSAL_MONTHLY_COST_INCREASE_USD,
    PROPOSAL_RISK_RANK,
)
from tests.agents.learning.outcomes import (
    RECORDED_AT,
    batch_context,
    health,
    outcome,
    recommendation,
    verdict,
)
from tests.agents.reasoning.proposals import spot_proposal

EXECUTED = RecommendationStatus.EXECUTED
ROLLED_BACK = RecommendationStatus.ROLLED_BACK


def similar(learned: LearnedOutcome, similarity: float = 0.95) -> SimilarOutcome:
    return SimilarOutcome(outcome=learned, similarity=similarity)


def held(n: int, similarity: float = 0.95) -> list[SimilarOutcome]:
    return [similar(outcome(f"rec-held-{i}", EXECUTED), similarity) for i in range(n)]


def confidence_after(outcomes: list[SimilarOutcome], before: float = 0.8, **params: float) -> float:
    adjusted, adjustment = adjust_confidence(
        spot_proposal(confidence=before), outcomes, ConfidenceParams(**params)
    )
    assert adjusted.confidence == adjustment.after
    assert adjustment.before == before
    return adjusted.confidence


def test_no_similar_outcomes_leave_the_proposal_as_it_was_and_say_so() -> None:
    proposal = spot_proposal(confidence=0.8)
    adjusted, adjustment = adjust_confidence(proposal, [])
    assert adjusted == proposal
    assert (adjustment.before, adjustment.after, adjustment.cited) == (0.8, 0.8, [])
    assert adjustment.title == proposal.title
    assert "No similar past outcomes" in adjustment.note


def test_outcomes_that_held_raise_confidence_and_more_of_them_raise_it_more() -> None:
    one, three, ten = confidence_after(held(1)), confidence_after(held(3)), confidence_after(held(10))
    assert 0.8 < one < three < ten <= 0.8 + 0.2
    # shift = max_shift x mean score x n/(n+k), with k=2 and every score 1 (weights cancel in the mean)
    assert one == pytest.approx(0.8 + 0.2 * 1 / 3)
    assert three == pytest.approx(0.8 + 0.2 * 3 / 5)


def test_rolled_back_failed_and_regressed_outcomes_lower_it() -> None:
    rolled_back = [similar(outcome(f"rb-{i}", ROLLED_BACK, regressed=True)) for i in range(3)]
    failed = [similar(outcome(f"f-{i}", RecommendationStatus.FAILED)) for i in range(3)]
    regressed_in_place = [similar(outcome(f"r-{i}", EXECUTED, regressed=True)) for i in range(3)]
    for outcomes in (rolled_back, failed, regressed_in_place):
        assert confidence_after(outcomes) == pytest.approx(0.8 - 0.2 * 3 / 5)


def test_rejections_lower_it_a_little_and_expiries_not_at_all() -> None:
    rejected = [similar(outcome(f"rej-{i}", RecommendationStatus.REJECTED)) for i in range(3)]
    expired = [similar(outcome(f"exp-{i}", RecommendationStatus.EXPIRED)) for i in range(3)]
    rolled_back = [similar(outcome(f"rb-{i}", ROLLED_BACK)) for i in range(3)]
    assert confidence_after(rolled_back) < confidence_after(rejected) < 0.8
    assert confidence_after(expired) == 0.8


def test_a_saving_only_partly_realized_counts_for_that_part() -> None:
    full = outcome("full", EXECUTED)
    half = full.model_copy(
        update={
            "recommendation_id": "half",
            "actual_monthly_savings_usd": full.predicted_monthly_savings_usd / 2,
        }
    )
    assert outcome_score(full) == 1.0
    assert outcome_score(half) == pytest.approx(0.5)
    over = full.model_copy(update={"actual_monthly_savings_usd": 3 * full.predicted_monthly_savings_usd})
    assert outcome_score(over) == 1.0  # capped
    assert 0.8 < confidence_after([similar(half)]) < confidence_after([similar(full)])


def test_the_more_similar_outcomes_weigh_more() -> None:
    good, bad = outcome("good", EXECUTED), outcome("bad", ROLLED_BACK, regressed=True)
    leaning_good = confidence_after([similar(good, 0.99), similar(bad, 0.2)])
    leaning_bad = confidence_after([similar(good, 0.2), similar(bad, 0.99)])
    assert leaning_bad < 0.8 < leaning_good
    # weighted mean (0.99 - 0.2) / 1.19 over two outcomes
    assert leaning_good == pytest.approx(0.8 + 0.2 * (0.79 / 1.19) * 2 / 4)


def test_confidence_stays_within_bounds_and_the_bounds_never_move_it_against_the_evidence() -> None:
    assert confidence_after(held(50), before=0.95) == pytest.approx(0.99)
    bad = [similar(outcome(f"rb-{i}", ROLLED_BACK)) for i in range(50)]
    assert confidence_after(bad, before=0.1) == pytest.approx(0.05)
    assert confidence_after(held(5), before=0.995) == 0.995  # above the ceiling already: not lowered
    assert confidence_after(bad, before=0.02) == 0.02  # below the floor already: not raised
    assert confidence_after(held(1), before=0.02) == pytest.approx(0.02 + 0.2 / 3)  # nor lifted past it
    statuses = [EXECUTED, ROLLED_BACK, RecommendationStatus.REJECTED, RecommendationStatus.EXPIRED]
    ending = {status: [similar(outcome(f"x-{i}", status)) for i in range(40)] for status in statuses}
    for before, status, n, shift in itertools.product(
        [0.0, 0.03, 0.5, 0.97, 1.0], statuses, [1, 4, 40], [0.0, 0.2, 1.0]
    ):
        after = confidence_after(ending[status][:n], before=before, max_shift=shift)
        assert 0.0 <= after <= 1.0
        assert abs(after - before) <= shift + 1e-12
        if status is EXECUTED:
            assert after >= before and (after <= 0.99 or after == before)
        elif status is RecommendationStatus.EXPIRED:
            assert after == before
        else:
            assert after <= before and (after >= 0.05 or after == before)
    with pytest.raises(ValidationError):
        ConfidenceParams(floor=0.9, ceiling=0.5)
    with pytest.raises(ValidationError):
        ConfidenceParams(max_shift=1.5)


def test_the_reasoning_cites_the_outcomes_how_they_ended_and_the_change() -> None:
    proposal = spot_proposal(confidence=0.8)
    outcomes = [
        similar(outcome("rec-a1", EXECUTED), 0.99),
        similar(outcome("rec-b2", EXECUTED), 0.97),
        similar(outcome("rec-c3", ROLLED_BACK, regressed=True), 0.93),
    ]
    adjusted, adjustment = adjust_confidence(proposal, outcomes)
    assert adjusted.reasoning.startswith(proposal.reasoning)
    note = adjustment.note
    assert adjusted.reasoning.endswith(note)
    assert note.startswith(
        "Past outcomes: 3 similar changes on this customer's fleet — 2 held, 1 rolled back after a regression"
    )
    for rec, how, sim in [("rec-a1", "held", "0.99"), ("rec-b2", "held", "0.97")]:
        assert f"(rec {rec}, {how}, similarity {sim})" in note
    assert "(rec rec-c3, rolled back after a regression, similarity 0.93)" in note
    assert f"“{proposal.title}”" in note
    assert note.endswith(f"confidence 0.80 → {adjusted.confidence:.2f}.")
    assert "$" not in note  # explanations are held to the proposal's own dollar figures
    assert [c.outcome.recommendation_id for c in adjustment.cited] == ["rec-a1", "rec-b2", "rec-c3"]


def test_the_reasoning_names_the_most_similar_few_and_counts_the_rest() -> None:
    outcomes = [similar(outcome(f"rec-{i}", EXECUTED), 0.9 + i / 100) for i in range(6)]
    _, adjustment = adjust_confidence(spot_proposal(), outcomes, ConfidenceParams(cited_in_reasoning=2))
    assert "rec rec-5," in adjustment.note and "rec rec-4," in adjustment.note
    assert "rec rec-3," not in adjustment.note
    assert "and 4 more" in adjustment.note
    assert len(adjustment.cited) == 6


def test_the_same_outcomes_in_another_order_give_the_same_answer() -> None:
    outcomes = [*held(2), similar(outcome("rb", ROLLED_BACK), 0.91)]
    first = adjust_confidence(spot_proposal(), outcomes)
    second = adjust_confidence(spot_proposal(), list(reversed(outcomes)))
    assert first == second


def test_a_recommendation_that_executed_and_held_realized_its_saving() -> None:
    rec = recommendation(spot_proposal(savings=1997.43), "rec-1")
    learned = learned_outcome(
        rec,
        status=EXECUTED,
        context=batch_context(),
        verdict=verdict(regressed=False, baseline=health(), current=health(ttft_p99=1.1, error_rate=0.003)),
        recorded_at=RECORDED_AT,
    )
    assert learned.held and not learned.regressed
    assert learned.actual_monthly_savings_usd == learned.predicted_monthly_savings_usd == 1997.43
    assert learned.p99_latency_change == pytest.approx(0.1)
    assert learned.error_rate_change_points == pytest.approx(0.1)
    assert (learned.recommendation_id, learned.customer_id, learned.workload_id) == ("rec-1", "acme", "chat")
    assert (learned.agent, learned.type, learned.title) == (rec.agent, rec.type, rec.title)
    assert learned.confidence == rec.confidence and learned.recorded_at == RECORDED_AT
    assert learned.context == batch_context() | {
        PROPOSAL_CURRENT_MONTHLY_COST_USD: 4140.0,
        PROPOSAL_MONTHLY_COST_INCREASE_USD: 0.0,
        PROPOSAL_RISK_RANK: 1.0,
    }
    no_verdict = learned_outcome(rec, status=EXECUTED, context={}, verdict=None, recorded_at=RECORDED_AT)
    assert no_verdict.held and no_verdict.actual_monthly_savings_usd == 1997.43
    assert no_verdict.p99_latency_change is None and no_verdict.error_rate_change_points is None


def test_a_regression_or_any_other_ending_realized_nothing() -> None:
    rec = recommendation(spot_proposal(), "rec-2")
    regression = verdict(regressed=True, baseline=health(), current=health(ttft_p99=1.5))
    for status in (EXECUTED, ROLLED_BACK):
        learned = learned_outcome(
            rec, status=status, context=batch_context(), verdict=regression, recorded_at=RECORDED_AT
        )
        assert learned.regressed and not learned.held
        assert learned.actual_monthly_savings_usd == 0.0
        assert learned.p99_latency_change == pytest.approx(0.5)
    for status in (RecommendationStatus.REJECTED, RecommendationStatus.EXPIRED, RecommendationStatus.FAILED):
        learned = learned_outcome(rec, status=status, context={}, verdict=None, recorded_at=RECORDED_AT)
        assert not learned.held and not learned.regressed
        assert learned.actual_monthly_savings_usd == 0.0


def test_p99_change_falls_back_to_end_to_end_latency_without_ttft() -> None:
    rec = recommendation(spot_proposal(), "rec-3")
    found = verdict(
        regressed=False,
        baseline=health(ttft_p99=None, e2e_p99=8.0, error_rate=None),
        current=health(ttft_p99=None, e2e_p99=6.0),
    )
    learned = learned_outcome(rec, status=EXECUTED, context={}, verdict=found, recorded_at=RECORDED_AT)
    assert learned.p99_latency_change == pytest.approx(-0.25)
    assert learned.error_rate_change_points is None
    again = learned_outcome(rec, status=EXECUTED, context={}, verdict=found, recorded_at=RECORDED_AT)
    assert again == learned
