"""Regression defense: a workload's latency and errors before a change (the baseline), after it, and the
rules' verdict on the difference."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class ServingHealth(BaseModel):
    """A workload's serving figures over a period, all replicas together (from vLLM latency windows)."""

    customer_id: str
    workload_id: str
    since: datetime
    until: datetime
    windows: int = Field(ge=0, description="Latency windows the figures are read from")
    requests: float = Field(ge=0.0)
    ttft_p99_s: float | None = None
    itl_p99_s: float | None = None
    e2e_p99_s: float | None = None
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0, description="Failed share of requests")


class RegressionMetric(StrEnum):
    TTFT_P99 = "ttft_p99"
    ITL_P99 = "itl_p99"
    E2E_P99 = "e2e_p99"
    ERROR_RATE = "error_rate"


class RegressionThresholds(BaseModel):
    """p99 latency may grow by this fraction, the error rate by this many percentage points."""

    max_p99_increase: float = Field(default=0.20, gt=0.0)
    max_error_rate_increase_points: float = Field(default=1.0, gt=0.0)
    min_requests: float = Field(
        default=50.0, ge=0.0, description="Fewer requests than this on either side: too little to judge"
    )


class RegressionFinding(BaseModel):
    metric: RegressionMetric
    baseline: float
    current: float
    limit: float = Field(description="The value the current figure had to stay at or under")
    description: str


class RegressionVerdict(BaseModel):
    regressed: bool
    findings: list[RegressionFinding] = Field(default_factory=list)
    baseline: ServingHealth
    current: ServingHealth
    judgeable: bool = Field(default=True, description="False when either side had too little traffic")
    summary: str


class RootCauseNote(BaseModel):
    """Why a confirmed regression happened, written by the language-model layer (rules when none)."""

    summary: str
    likely_causes: list[str] = Field(default_factory=list)
    caused_by_recommendation_id: str | None = None
    written_by: str = "rules"
