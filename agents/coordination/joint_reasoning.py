"""The task "resolve the agents' conflicts jointly": a frontier model weighs the conflicting proposals
against each other and the customer's constraints; its answer stands only if the plan it implies is
consistent (every conflict resolved by one of its sides, no accepted pair in conflict, no constraint
broken). The rule resolution answers otherwise."""

import json
from typing import ClassVar

from pydantic import BaseModel, Field

from agents.coordination.resolution import plan_from_resolutions
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.domain.coordination import Conflict, CustomerConstraints, Resolution, ResolutionMethod
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal
from optiinfra.llm.chat import ChatMessage

REASON_MAX_CHARS = 600

SYSTEM_PROMPT = (
    "You coordinate four agents optimizing one LLM inference workload: performance (latency SLO), "
    "resource (GPU memory), cost and application. Their proposals conflict in pairs. For each conflict "
    "pick the side whose change should go ahead, or null to set both aside. Respect the customer's "
    "constraints; never accept two changes that conflict. Use only the facts given. Reply with one JSON "
    'object: {"decisions": [{"conflict_id": "<id>", "winner": "<agent or null>", "reason": "<at most '
    '600 characters>"}]}'
)


class JointDecision(BaseModel):
    conflict_id: str
    winner: AgentKind | None
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)


class JointAnswer(BaseModel):
    # No minimum length: the rule answer for no conflicts has no decisions, and a model's answer that
    # leaves a conflict out is refused by `ResolveConflicts.rejection`, which names the conflict.
    decisions: list[JointDecision]

    def resolutions(
        self, conflicts: list[Conflict], method: ResolutionMethod, written_by: str
    ) -> list[Resolution]:
        sides = {c.conflict_id: c.agents for c in conflicts}
        return [
            Resolution(
                conflict_id=d.conflict_id,
                method=method,
                winner=d.winner,
                set_aside=[a for a in sides.get(d.conflict_id, []) if a != d.winner],
                reason=d.reason,
                written_by=written_by,
            )
            for d in self.decisions
        ]


class ResolveConflicts(ReasoningTask[JointAnswer]):
    name: ClassVar[str] = "resolve_conflicts"
    kind: ClassVar[TaskKind] = TaskKind.JOINT_RESOLUTION
    answer_model = JointAnswer

    def __init__(
        self,
        candidates: list[Proposal],
        conflicts: list[Conflict],
        rule_resolutions: list[Resolution],
        constraints: CustomerConstraints,
        slo_compliance: float | None = None,
    ) -> None:
        self.candidates = candidates
        self.conflicts = conflicts
        self.rule_resolutions = rule_resolutions
        self.constraints = constraints
        self.slo_compliance = slo_compliance

    def messages(self) -> list[ChatMessage]:
        facts = {
            "proposals": [_facts(p) for p in self.candidates],
            "conflicts": [c.model_dump(mode="json") for c in self.conflicts],
            "constraints": self.constraints.model_dump(mode="json", exclude={"joint_reasoning"}),
            "slo_compliance": self.slo_compliance,
        }
        return [
            ChatMessage(role="system", content=SYSTEM_PROMPT),
            ChatMessage(role="user", content=json.dumps(facts, sort_keys=True)),
        ]

    def rule_answer(self) -> JointAnswer:
        return JointAnswer(
            decisions=[
                JointDecision(conflict_id=r.conflict_id, winner=r.winner, reason=r.reason[:REASON_MAX_CHARS])
                for r in self.rule_resolutions
            ]
        )

    def settled_by_rules(self) -> JointAnswer | None:
        return self.rule_answer() if not self.conflicts else None

    def rejection(self, answer: JointAnswer) -> str | None:
        plan = plan_from_resolutions(
            self.candidates,
            self.conflicts,
            answer.resolutions(self.conflicts, ResolutionMethod.JOINT_REASONING, "model"),
            self.constraints,
            self.slo_compliance,
        )
        return plan if isinstance(plan, str) else None


def _facts(proposal: Proposal) -> dict[str, object]:
    return {
        "agent": proposal.agent.value,
        "type": proposal.type.value,
        "title": proposal.title,
        "reasoning": proposal.reasoning,
        "estimated_monthly_savings_usd": proposal.estimated_monthly_savings_usd,
        "monthly_cost_increase_usd": proposal.monthly_cost_increase_usd,
        "confidence": proposal.confidence,
        "risk_level": proposal.risk_level.value,
    }
