"""The rule tier's explanation of a proposal, the prompt a model gets, and the number check on its answer."""

import json

from agents.reasoning.explanations import SUMMARY_MAX_CHARS, ExplainProposal, ProposalExplanation
from optiinfra.domain.enums import RiskLevel
from tests.agents.reasoning.proposals import spot_proposal


def test_rule_explanation_is_built_from_the_proposal() -> None:
    explanation = ExplainProposal(spot_proposal()).rule_answer()
    assert explanation.summary.startswith("1 of 2 replicas of Batch summarize run on-demand")
    assert explanation.summary.endswith("stay on-demand as a floor.")  # whole sentences only
    assert explanation.key_factors[:2] == [
        "Saves $1,997.43/month ($4,140.00 now, $2,142.57 after)",
        "Confidence 82%",
    ]
    assert "replicas moved: 1" in explanation.key_factors
    assert explanation.risks == [
        "Medium risk: serving capacity changes while the steps run.",
        "Spot capacity can be reclaimed by AWS (Spot Advisor interruption bucket 0).",
    ]


def test_rule_explanation_flags_low_confidence_and_caps_key_factors() -> None:
    proposal = spot_proposal(confidence=0.55).model_copy(
        update={"risk_level": RiskLevel.HIGH, "evidence": {f"signal_{n}": float(n) for n in range(9)}}
    )
    explanation = ExplainProposal(proposal).rule_answer()
    assert len(explanation.key_factors) == 6
    assert explanation.risks[0].startswith("High risk")
    assert "Confidence is only 55%" in explanation.risks[1]


def test_rule_summary_of_one_overlong_sentence_is_cut_to_fit() -> None:
    proposal = spot_proposal().model_copy(update={"reasoning": "word " * 300})
    summary = ExplainProposal(proposal).rule_answer().summary
    assert len(summary) == SUMMARY_MAX_CHARS
    assert summary.endswith("…")


def test_rule_summary_falls_back_to_the_title_without_reasoning() -> None:
    proposal = spot_proposal().model_copy(update={"reasoning": "  "})
    assert ExplainProposal(proposal).rule_answer().summary == proposal.title


def test_prompt_carries_the_proposal_as_json_and_the_constraints() -> None:
    system, user = ExplainProposal(spot_proposal()).messages()
    assert system.role == "system"
    assert "no privacy constraint applies" in system.content
    assert "JSON" in system.content
    assert '"key_factors"' in system.content
    assert len(system.content) < 600  # kept short: it is paid for on every call
    facts = json.loads(user.content)
    assert facts["estimated_monthly_savings_usd"] == 1997.43
    assert facts["evidence"] == {"interruption_bucket": 0.0, "on_demand_floor": 1.0, "replicas_moved": 1.0}
    assert "i-0abc" not in user.content  # step targets are not needed to explain the decision


def _explanation(summary: str) -> ProposalExplanation:
    return ProposalExplanation(summary=summary, key_factors=["spot"], risks=[])


def test_dollar_figures_must_come_from_the_proposal() -> None:
    task = ExplainProposal(spot_proposal())
    assert task.rejection(_explanation("Saves $1,997.43 of $4,140 and leaves $2,142.57.")) is None
    assert task.rejection(_explanation("Saves $2,000.00 a month.")) == (
        "dollar figures not in the proposal: $2,000.00"
    )


def test_dollar_figures_written_in_the_reasoning_may_be_quoted() -> None:
    proposal = spot_proposal().model_copy(update={"reasoning": "The reserved term costs $8,760 up front."})
    assert ExplainProposal(proposal).rejection(_explanation("It costs $8,760 up front.")) is None
