"""What an agent proposes, how it is executed, who approved it and how it ended."""

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from optiinfra.domain.agent_requests import AgentRequest
from optiinfra.domain.enums import (
    AgentKind,
    DecisionKind,
    RecommendationStatus,
    RecommendationType,
    RiskLevel,
    StepAction,
    StepPhase,
    StepStatus,
)


class ExecutionStep(BaseModel):
    """One change to the world. `compensation` undoes it and is registered before the step runs."""

    step_id: str
    phase: StepPhase = StepPhase.APPLY
    action: StepAction
    target: str = Field(description="The resource the step acts on, e.g. an instance id")
    params: dict[str, str] = Field(default_factory=dict)
    description: str
    compensation: "CompensationStep | None" = None


class CompensationStep(BaseModel):
    action: StepAction
    target: str
    params: dict[str, str] = Field(default_factory=dict)
    description: str


class StepResult(BaseModel):
    step_id: str
    action: StepAction
    target: str
    status: StepStatus
    detail: str = ""
    resource_ids: list[str] = Field(default_factory=list)
    finished_at: datetime


class Proposal(BaseModel):
    """An analyzer's finding before it becomes a persisted, identified recommendation."""

    agent: AgentKind
    type: RecommendationType
    title: str
    reasoning: str
    estimated_monthly_savings_usd: float
    current_monthly_cost_usd: float
    projected_monthly_cost_usd: float
    confidence: float = Field(ge=0.0, le=1.0)
    risk_level: RiskLevel
    steps: list[ExecutionStep]
    evidence: dict[str, float | str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _savings_are_the_cost_difference(self) -> "Proposal":
        """Savings are what the change itself takes off the bill: current minus projected, or 0 where it adds
        to it (a change that costs more may also say so as a negative saving). A saving that needs a later
        change belongs in the reasoning and evidence, not here."""
        current, projected = self.current_monthly_cost_usd, self.projected_monthly_cost_usd
        savings, tolerance = self.estimated_monthly_savings_usd, max(1.0, 0.001 * current)
        agrees = abs(savings - (current - projected)) <= tolerance or (
            abs(savings) <= tolerance and projected >= current
        )
        if not agrees:
            raise ValueError(
                f"{self.title!r}: savings ${savings:,.2f}/month disagree with its costs "
                f"(${current:,.2f} now, ${projected:,.2f} after)"
            )
        return self

    @property
    def monthly_cost_increase_usd(self) -> float:
        """What the change adds to the monthly bill (0 when it saves): a performance action that buys
        latency with replicas says here by how much, so a joint optimization can weigh it against savings."""
        return max(0.0, self.projected_monthly_cost_usd - self.current_monthly_cost_usd)


class Explanation(BaseModel):
    """A plain-language account of a recommendation for the person who approves it, written by a language
    model tier when one is configured and answers validly, by rules otherwise (`written_by` says which)."""

    summary: str
    key_factors: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    written_by: str = "rules"


class Recommendation(Proposal):
    """A proposal the workflow persisted: identified, owned by a workload, with a lifecycle status."""

    explanation: Explanation | None = None
    recommendation_id: str
    workflow_id: str
    customer_id: str
    workload_id: str
    status: RecommendationStatus = RecommendationStatus.PENDING_APPROVAL
    created_at: datetime


class Approval(BaseModel):
    """A person's decision on a recommendation, carried by the workflow's `decide` update (or its
    approve/reject signals). `approver` is who decided (the authenticated principal, through the API)."""

    decision: DecisionKind
    approver: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    decided_at: datetime | None = None
    note: str | None = Field(
        default=None, max_length=200, description="A display note beside the approver (e.g. a person's name)"
    )

    def described(self) -> str:
        """E.g. `approved by ana at 2025-06-02T09:14:03+00:00: spot is fine here`: who, what, when, why."""
        verb = "approved" if self.decision is DecisionKind.APPROVE else "rejected"
        who = self.approver if self.note is None else f"{self.approver} ({self.note})"
        when = f" at {self.decided_at.isoformat()}" if self.decided_at is not None else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{verb} by {who}{when}{why}"


class Outcome(BaseModel):
    recommendation_id: str
    workflow_id: str
    status: RecommendationStatus
    approval: Approval | None = None
    step_results: list[StepResult] = Field(default_factory=list)
    verification_passed: bool | None = None
    failure_reason: str | None = None
    estimated_monthly_savings_usd: float = 0.0
    finished_at: datetime


ExecutionStep.model_rebuild()


class AnalysisResult(BaseModel):
    """Proposals ranked best first, and why the strategies that found nothing did not apply."""

    proposals: list[Proposal] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    requests: list[AgentRequest] = Field(
        default_factory=list, description="What this agent asks another agent to look at for the workload"
    )
    context: dict[str, float] = Field(
        default_factory=dict, description="Numeric features of the workload as analyzed (for learning)"
    )
