"""The API's answers a client reads back (the CLI among them): models that import pydantic and the domain
alone, so that a command calling the API loads none of the server (FastAPI, Temporal, the store)."""

from datetime import datetime

from pydantic import BaseModel

from optiinfra.domain.enums import AgentKind, RecommendationStatus, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import Approval, ExecutionStep, Outcome, Recommendation, StepResult


class OptimizationStarted(BaseModel):
    workflow_id: str
    workflow_ids: list[str]


class DecisionAccepted(BaseModel):
    recommendation_id: str
    workflow_id: str
    decision: str


class RecommendationItem(BaseModel):
    id: str
    workflow_id: str
    customer_id: str
    workload_id: str
    agent: AgentKind
    type: RecommendationType
    status: RecommendationStatus
    title: str
    estimated_monthly_savings_usd: float
    current_monthly_cost_usd: float
    projected_monthly_cost_usd: float
    confidence: float
    risk_level: RiskLevel
    reasoning: str
    created_at: datetime

    @classmethod
    def of(cls, recommendation: Recommendation) -> "RecommendationItem":
        return cls(
            id=recommendation.recommendation_id, **recommendation.model_dump(exclude={"recommendation_id"})
        )


class RecommendationDetail(RecommendationItem):
    steps: list[ExecutionStep]
    evidence: dict[str, float | str]
    status_reason: str | None = None
    approval: Approval | None = None
    step_results: list[StepResult]
    outcome: Outcome | None = None
    updated_at: datetime
