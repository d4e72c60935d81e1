"""How similar past outcomes move a new proposal's confidence, and what a finished recommendation leaves
to learn from. Pure functions: no I/O, no clock (`learned_outcome` runs inside workflow code).

Each past outcome scores in [-1, 1]:

- it held (executed, no regression): the share of its predicted saving that was realized, at most 1
  (1 when it predicted none, as a performance change that buys latency does);
- it was rolled back, failed, or regressed: -1;
- a person rejected it: `ConfidenceParams.rejected_score`, a small negative (people's doubts count, but
  less than a change that went wrong);
- anything else (expired unanswered, not finished): 0.

The scores are averaged weighted by similarity, and the confidence moves by
`max_shift * weighted mean * n / (n + evidence_k)`: at most `max_shift`, and the more outcomes agree, the
closer to it. A move stops at `ceiling` going up and at `floor` going down; a confidence already past the
bound it moves towards stays as it is (the bounds never move it against the evidence: a 0.995 proposal
with good outcomes behind it keeps 0.995)."""

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.learning import ConfidenceAdjustment, LearnedOutcome, SimilarOutcome
from optiinfra.domain.recommendation import Proposal, Recommendation
from optiinfra.domain.regression import RegressionVerdict, ServingHealth
from optiinfra.learning.features import ProposalFigures


class ConfidenceParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_shift: float = Field(default=0.2, ge=0.0, le=1.0, description="The most confidence can move")
    evidence_k: float = Field(
        default=2.0, gt=0.0, description="In n/(n+k): with k outcomes the evidence counts half"
    )
    rejected_score: float = Field(default=-0.25, ge=-1.0, le=0.0)
    floor: float = Field(default=0.05, ge=0.0, le=1.0)
    ceiling: float = Field(default=0.99, ge=0.0, le=1.0)
    cited_in_reasoning: int = Field(default=3, ge=0, description="Outcomes named in the reasoning")

    @model_validator(mode="after")
    def _ordered_bounds(self) -> "ConfidenceParams":
        if self.floor > self.ceiling:
            raise ValueError("floor is above ceiling")
        return self


# How each kind of ending reads, in the order the summary lists them.
_HELD = "held"
_ROLLED_BACK_REGRESSED = "rolled back after a regression"
_ROLLED_BACK = "rolled back"
_REGRESSED = "regressed"
_FAILED = "failed"
_REJECTED = "rejected"
_EXPIRED = "expired unanswered"
_ENDINGS = (_HELD, _ROLLED_BACK_REGRESSED, _ROLLED_BACK, _REGRESSED, _FAILED, _REJECTED, _EXPIRED)


def outcome_score(outcome: LearnedOutcome, params: ConfidenceParams | None = None) -> float:
    """How well `outcome` speaks for a similar change, from -1 (it went wrong) to 1 (it held in full)."""
    params = params or ConfidenceParams()
    if outcome.held:
        return realized_share(outcome)
    if outcome.regressed or outcome.status in (RecommendationStatus.ROLLED_BACK, RecommendationStatus.FAILED):
        return -1.0
    if outcome.status is RecommendationStatus.REJECTED:
        return params.rejected_score
    return 0.0


def realized_share(outcome: LearnedOutcome) -> float:
    """Actual over predicted savings within [0, 1]; 1 when it predicted no saving."""
    if outcome.predicted_monthly_savings_usd <= 0:
        return 1.0
    return max(0.0, min(1.0, outcome.actual_monthly_savings_usd / outcome.predicted_monthly_savings_usd))


def ending(outcome: LearnedOutcome) -> str:
    """How the outcome ended, in words."""
    status = outcome.status
    if outcome.held:
        return _HELD
    if status is RecommendationStatus.ROLLED_BACK:
        return _ROLLED_BACK_REGRESSED if outcome.regressed else _ROLLED_BACK
    if outcome.regressed:
        return _REGRESSED
    if status is RecommendationStatus.FAILED:
        return _FAILED
    if status is RecommendationStatus.REJECTED:
        return _REJECTED
    if status is RecommendationStatus.EXPIRED:
        return _EXPIRED
    return f"still {status.value.replace('_', ' ')}"


def adjust_confidence(
    proposal: Proposal, similar: list[SimilarOutcome], params: ConfidenceParams | None = None
) -> tuple[Proposal, ConfidenceAdjustment]:
    """`proposal` with its confidence moved by the similar past outcomes (all of the proposal's customer)
    and a sentence citing them appended to its reasoning; unchanged when there are none."""
    params = params or ConfidenceParams()
    before = proposal.confidence
    if not similar:
        return proposal, ConfidenceAdjustment(
            title=proposal.title,
            before=before,
            after=before,
            note="No similar past outcomes on this customer's fleet; confidence unchanged.",
        )
    ranked = sorted(similar, key=lambda s: (-s.similarity, s.outcome.recommendation_id))
    weights = [max(0.0, s.similarity) for s in ranked]
    total = sum(weights)
    weighing = sum(w > 0 for w in weights)
    mean = (
        sum(w * outcome_score(s.outcome, params) for w, s in zip(weights, ranked, strict=True)) / total
        if total > 0
        else 0.0
    )
    shift = params.max_shift * mean * weighing / (weighing + params.evidence_k)
    after = _moved(before, shift, params)
    note = _citation(ranked, before, after, params)
    reasoning = f"{proposal.reasoning.rstrip()} {note}".lstrip()
    adjusted = proposal.model_copy(update={"confidence": after, "reasoning": reasoning})
    return adjusted, ConfidenceAdjustment(
        title=proposal.title, before=before, after=after, cited=ranked, note=note
    )


def _moved(before: float, shift: float, params: ConfidenceParams) -> float:
    """`before` moved by `shift`, stopping at the bound it moves towards (a confidence already past that
    bound stays where it is: the bounds never move it against the evidence)."""
    if shift > 0:
        return min(before + shift, max(params.ceiling, before))
    if shift < 0:
        return max(before + shift, min(params.floor, before))
    return before


def _citation(ranked: list[SimilarOutcome], before: float, after: float, params: ConfidenceParams) -> str:
    """e.g. "Past outcomes: 3 similar changes on this customer's fleet — 2 held, 1 rolled back after a
    regression; most similar: “Move 1 replica(s) of chat to spot” (rec r-7, rolled back after a regression,
    similarity 0.97), ...; confidence 0.80 → 0.71." No dollar figures: explanations are held to the
    proposal's own."""
    endings = Counter(ending(s.outcome) for s in ranked)
    order = [e for e in _ENDINGS if e in endings] + sorted(e for e in endings if e not in _ENDINGS)
    summary = ", ".join(f"{endings[e]} {e}" for e in order)
    count = len(ranked)
    changes = f"{count} similar change{'s' if count != 1 else ''}"
    parts = [f"Past outcomes: {changes} on this customer's fleet — {summary}"]
    named = ranked[: params.cited_in_reasoning]
    if named:
        citations = ", ".join(_cite(s) for s in named)
        more = count - len(named)
        parts.append(f"most similar: {citations}" + (f" and {more} more" if more else ""))
    parts.append(f"confidence {before:.2f} → {after:.2f}.")
    return "; ".join(parts)


def _cite(similar: SimilarOutcome) -> str:
    outcome = similar.outcome
    how = ending(outcome)
    if outcome.held and outcome.predicted_monthly_savings_usd > 0 and realized_share(outcome) < 1.0:
        how += f", {realized_share(outcome):.0%} of the predicted saving realized"
    return f"“{outcome.title}” (rec {outcome.recommendation_id}, {how}, similarity {similar.similarity:.2f})"


def learned_outcome(
    recommendation: Recommendation,
    *,
    status: RecommendationStatus,
    context: dict[str, float],
    verdict: RegressionVerdict | None,
    recorded_at: datetime,
) -> LearnedOutcome:
    """What `recommendation` ending in `status` teaches: the saving counts as realized when it executed and
    the regression check (if any) found nothing; latency and error changes come from the verdict. The
    context is the workload's at proposal time, to which the proposal's own figures are added (see
    `ProposalFigures.as_context`), so that the stored vector matches the proposal's."""
    regressed = verdict is not None and verdict.regressed
    held = status is RecommendationStatus.EXECUTED and not regressed
    predicted = recommendation.estimated_monthly_savings_usd
    return LearnedOutcome(
        recommendation_id=recommendation.recommendation_id,
        customer_id=recommendation.customer_id,
        workload_id=recommendation.workload_id,
        agent=recommendation.agent,
        type=recommendation.type,
        title=recommendation.title,
        context={**context, **ProposalFigures.of(recommendation).as_context()},
        confidence=recommendation.confidence,
        status=status,
        predicted_monthly_savings_usd=predicted,
        actual_monthly_savings_usd=predicted if held else 0.0,
        p99_latency_change=_p99_change(verdict.baseline, verdict.current) if verdict else None,
        error_rate_change_points=_error_rate_change_points(verdict.baseline, verdict.current)
        if verdict
        else None,
        regressed=regressed,
        recorded_at=recorded_at,
    )


def _p99_change(baseline: ServingHealth, current: ServingHealth) -> float | None:
    """After over before minus one, on p99 TTFT, or p99 end-to-end latency when TTFT is not measured."""
    for before, after in ((baseline.ttft_p99_s, current.ttft_p99_s), (baseline.e2e_p99_s, current.e2e_p99_s)):
        if before is not None and after is not None and before > 0:
            return after / before - 1.0
    return None


def _error_rate_change_points(baseline: ServingHealth, current: ServingHealth) -> float | None:
    if baseline.error_rate is None or current.error_rate is None:
        return None
    return (current.error_rate - baseline.error_rate) * 100.0
