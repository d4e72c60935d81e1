"""Learning from outcomes: what an executed (or refused, or rolled back) recommendation was expected to do
and what it did, stored as a feature vector so that similar later recommendations can be weighed by it."""

from datetime import datetime

from pydantic import BaseModel, Field

from optiinfra.domain.enums import AgentKind, RecommendationStatus, RecommendationType


class LearnedOutcome(BaseModel):
    recommendation_id: str
    customer_id: str
    workload_id: str
    agent: AgentKind
    type: RecommendationType
    title: str
    context: dict[str, float] = Field(
        default_factory=dict, description="Numeric features of the workload when the change was proposed"
    )
    confidence: float = Field(ge=0.0, le=1.0, description="The confidence the recommendation was made with")
    status: RecommendationStatus
    predicted_monthly_savings_usd: float
    actual_monthly_savings_usd: float
    p99_latency_change: float | None = Field(
        default=None, description="After over before, minus one (0.25: p99 25% slower); None if unmeasured"
    )
    error_rate_change_points: float | None = None
    regressed: bool = False
    recorded_at: datetime

    @property
    def held(self) -> bool:
        """It ran, stayed in place and caused no regression."""
        return self.status is RecommendationStatus.EXECUTED and not self.regressed


class SimilarOutcome(BaseModel):
    outcome: LearnedOutcome
    similarity: float = Field(ge=-1.0, le=1.0)


class ConfidenceAdjustment(BaseModel):
    """A proposal's confidence before and after weighing similar past outcomes, and the outcomes cited."""

    title: str
    before: float = Field(ge=0.0, le=1.0)
    after: float = Field(ge=0.0, le=1.0)
    cited: list[SimilarOutcome] = Field(default_factory=list)
    note: str = ""
