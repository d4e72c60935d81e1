"""The task "explain a cost recommendation" to the engineer who approves it: a model writes the prose when
one is configured; the rules build the same structure from the proposal's own fields otherwise."""

import json
import re
from typing import ClassVar

from pydantic import BaseModel, Field

from agents.reasoning.dollar_figures import unsupported_figures, written_amounts
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.domain.enums import RiskLevel
from optiinfra.domain.recommendation import Proposal
from optiinfra.llm.chat import ChatMessage

SUMMARY_MAX_CHARS = 600
MAX_KEY_FACTORS = 6
# The rule summary keeps whole leading sentences of the reasoning up to this length.
RULE_SUMMARY_TARGET_CHARS = 300
LOW_CONFIDENCE = 0.7

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")

SYSTEM_PROMPT = (
    "You explain a cost-saving recommendation for a GPU inference fleet to the engineer who must approve "
    "it. Use only facts in the proposal. Copy dollar amounts exactly as given; write no other dollar "
    "amounts. The proposal holds fleet and price figures only, no user prompts or completions, so no "
    "privacy constraint applies. Reply with one JSON object: "
    '{"summary": "<at most 600 characters>", "key_factors": ["<1 to 6 short strings>"], '
    '"risks": ["<short strings, may be empty>"]}'
)

_RISK_NOTES = {
    RiskLevel.LOW: "Low risk: each step has a registered compensation that undoes it.",
    RiskLevel.MEDIUM: "Medium risk: serving capacity changes while the steps run.",
    RiskLevel.HIGH: "High risk: a failure could affect serving before compensations complete.",
}


class ProposalExplanation(BaseModel):
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX_CHARS)
    key_factors: list[str] = Field(min_length=1, max_length=MAX_KEY_FACTORS)
    risks: list[str]


class ExplainProposal(ReasoningTask[ProposalExplanation]):
    name: ClassVar[str] = "explain_proposal"
    kind: ClassVar[TaskKind] = TaskKind.EXPLANATION
    answer_model = ProposalExplanation

    def __init__(self, proposal: Proposal) -> None:
        self.proposal = proposal

    def messages(self) -> list[ChatMessage]:
        return [
            ChatMessage(role="system", content=SYSTEM_PROMPT),
            ChatMessage(role="user", content=json.dumps(_proposal_facts(self.proposal), sort_keys=True)),
        ]

    def rule_answer(self) -> ProposalExplanation:
        return ProposalExplanation(
            summary=rule_summary(self.proposal),
            key_factors=rule_key_factors(self.proposal),
            risks=rule_risks(self.proposal),
        )

    def rejection(self, answer: ProposalExplanation) -> str | None:
        """A model may reword the proposal but never change its numbers."""
        text = "\n".join([answer.summary, *answer.key_factors, *answer.risks])
        unsupported = unsupported_figures(text, _dollar_amounts(self.proposal))
        if unsupported:
            return f"dollar figures not in the proposal: {', '.join(unsupported)}"
        return None


def rule_summary(proposal: Proposal) -> str:
    """The reasoning's leading sentences (the title if it has none), cut to a readable length."""
    sentences = _SENTENCE_END.split(proposal.reasoning.strip()) if proposal.reasoning.strip() else []
    summary = sentences[0] if sentences else proposal.title
    for sentence in sentences[1:]:
        if len(summary) + 1 + len(sentence) > RULE_SUMMARY_TARGET_CHARS:
            break
        summary = f"{summary} {sentence}"
    if len(summary) > SUMMARY_MAX_CHARS:
        summary = summary[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
    return summary


def rule_key_factors(proposal: Proposal) -> list[str]:
    factors = [
        f"Saves ${proposal.estimated_monthly_savings_usd:,.2f}/month "
        f"(${proposal.current_monthly_cost_usd:,.2f} now, ${proposal.projected_monthly_cost_usd:,.2f} after)",
        f"Confidence {proposal.confidence:.0%}",
    ]
    factors += [
        f"{name.replace('_', ' ')}: {_format_value(value)}" for name, value in proposal.evidence.items()
    ]
    return factors[:MAX_KEY_FACTORS]


def rule_risks(proposal: Proposal) -> list[str]:
    risks = [_RISK_NOTES[proposal.risk_level]]
    if proposal.confidence < LOW_CONFIDENCE:
        risks.append(f"Confidence is only {proposal.confidence:.0%}: the savings estimate may be off.")
    bucket = proposal.evidence.get("interruption_bucket")
    if bucket is not None and not isinstance(bucket, str):
        risks.append(
            f"Spot capacity can be reclaimed by AWS (Spot Advisor interruption bucket {bucket:.0f})."
        )
    return risks


def _proposal_facts(proposal: Proposal) -> dict[str, object]:
    """What the model needs: the decision and its figures, not the execution steps' resource ids."""
    return {
        "title": proposal.title,
        "type": proposal.type.value,
        "reasoning": proposal.reasoning,
        "estimated_monthly_savings_usd": proposal.estimated_monthly_savings_usd,
        "current_monthly_cost_usd": proposal.current_monthly_cost_usd,
        "projected_monthly_cost_usd": proposal.projected_monthly_cost_usd,
        "confidence": proposal.confidence,
        "risk_level": proposal.risk_level.value,
        "evidence": proposal.evidence,
        "steps": len(proposal.steps),
    }


def _dollar_amounts(proposal: Proposal) -> list[float]:
    """Every amount a faithful explanation may quote: the cost fields, numeric evidence, and any dollar
    figure the analyzer itself wrote in the title or reasoning."""
    figures = [
        proposal.estimated_monthly_savings_usd,
        proposal.current_monthly_cost_usd,
        proposal.projected_monthly_cost_usd,
    ]
    figures += [value for value in proposal.evidence.values() if not isinstance(value, str)]
    figures += [written.value for written in written_amounts(f"{proposal.title}\n{proposal.reasoning}")]
    return figures


def _format_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:,.0f}" if value.is_integer() else f"{round(value, 3):,}"
