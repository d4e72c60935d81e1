"""The task "why did this workload regress": asked of the frontier tier only for a regression the rules
confirmed; the rules answer from the findings and our change just before it, if there was one.

The model sees serving figures, the rules' findings and the change's own fields (title, reasoning, steps):
metrics and records of our actions, never a request's content, so it runs at the metrics-only privacy tier."""

import json
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.domain.recommendation import Recommendation
from optiinfra.domain.regression import RegressionVerdict, RootCauseNote, ServingHealth
from optiinfra.llm.chat import ChatMessage

SUMMARY_MAX_CHARS = 600
MAX_LIKELY_CAUSES = 5

SYSTEM_PROMPT = (
    "You find the likely root cause of a latency or error regression of an LLM inference workload (vLLM "
    "on GPUs). You get its serving figures before (baseline) and now (current), the rules' findings, and "
    "the change OptiInfra made to it just before, or null. Use only these facts; they hold metrics and "
    "change records, no user prompts or completions. Reply with one JSON object: "
    '{"summary": "<at most 600 characters>", "likely_causes": ["<1 to 5 short strings, most likely '
    'first>"], "caused_by_recommendation_id": "<the change\'s recommendation_id if it likely caused the '
    'regression, else null>"}'
)

NO_CHANGE_CAUSE = (
    "No change by OptiInfra in the attribution period: look for a shift in traffic or request shape, or a "
    "model, deployment or node change made outside OptiInfra"
)


class RootCauseAnswer(BaseModel):
    """What a model (or the rules) answers; the activity turns it into a `RootCauseNote`."""

    summary: str = Field(min_length=1, max_length=SUMMARY_MAX_CHARS)
    likely_causes: list[str] = Field(default_factory=list, max_length=MAX_LIKELY_CAUSES)
    caused_by_recommendation_id: str | None = None

    def note(self, written_by: str) -> RootCauseNote:
        return RootCauseNote(**self.model_dump(), written_by=written_by)


class ExplainRegression(ReasoningTask[RootCauseAnswer]):
    name: ClassVar[str] = "explain_regression"
    kind: ClassVar[TaskKind] = TaskKind.ROOT_CAUSE
    answer_model = RootCauseAnswer

    def __init__(self, verdict: RegressionVerdict, recent_change: Recommendation | None = None) -> None:
        self.verdict = verdict
        self.recent_change = recent_change

    def messages(self) -> list[ChatMessage]:
        return [
            ChatMessage(role="system", content=SYSTEM_PROMPT),
            ChatMessage(role="user", content=json.dumps(self.facts(), sort_keys=True)),
        ]

    def facts(self) -> dict[str, Any]:
        """The user message: the figures on both sides, the findings, and our change's fields."""
        change = self.recent_change
        return {
            "workload": f"{self.verdict.current.customer_id}/{self.verdict.current.workload_id}",
            "baseline": _figures(self.verdict.baseline),
            "current": _figures(self.verdict.current),
            "findings": [
                {"metric": f.metric.value, "baseline": f.baseline, "current": f.current, "limit": f.limit}
                for f in self.verdict.findings
            ],
            "recent_change": None if change is None else _change_fields(change),
        }

    def settled_by_rules(self) -> RootCauseAnswer | None:
        """Only a confirmed regression is worth a model's time."""
        return None if self.verdict.regressed and self.verdict.findings else self.rule_answer()

    def rule_answer(self) -> RootCauseAnswer:
        verdict, change = self.verdict, self.recent_change
        workload = f"{verdict.current.customer_id}/{verdict.current.workload_id}"
        if not verdict.regressed:
            return RootCauseAnswer(summary=_cut(f"{workload}: {verdict.summary}"))
        summary = f"{workload}: {verdict.summary}"
        if change is None:
            return RootCauseAnswer(summary=_cut(summary), likely_causes=[NO_CHANGE_CAUSE])
        steps = "; ".join(step.description for step in change.steps) or "no steps"
        summary += (
            f" It follows our change {change.title!r} (recommendation {change.recommendation_id}), "
            "its likely cause."
        )
        cause = f"Our change {change.title!r} ({change.agent.value} agent, {change.type.value}): {steps}"
        return RootCauseAnswer(
            summary=_cut(summary),
            likely_causes=[_cut(cause)],
            caused_by_recommendation_id=change.recommendation_id,
        )

    def rejection(self, answer: RootCauseAnswer) -> str | None:
        if not answer.likely_causes:
            return "names no likely cause"
        blamed = answer.caused_by_recommendation_id
        if blamed is None:
            return None
        if self.recent_change is None:
            return f"blames recommendation {blamed}, but no change of ours was given"
        given = self.recent_change.recommendation_id
        if blamed != given:
            return f"blames recommendation {blamed}, not the change given ({given})"
        return None


def _figures(health: ServingHealth) -> dict[str, Any]:
    return health.model_dump(mode="json", exclude={"customer_id", "workload_id"})


def _change_fields(change: Recommendation) -> dict[str, Any]:
    return {
        "recommendation_id": change.recommendation_id,
        "agent": change.agent.value,
        "type": change.type.value,
        "title": change.title,
        "reasoning": change.reasoning,
        "status": change.status.value,
        "created_at": change.created_at.isoformat(),
        "steps": [
            {
                "step_id": step.step_id,
                "phase": step.phase.value,
                "action": step.action.value,
                "target": step.target,
                "params": step.params,
                "description": step.description,
            }
            for step in change.steps
        ],
    }


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
