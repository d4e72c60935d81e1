"""Inputs, outputs and status of the optimization workflows: what starters, activities and the API share.
Pydantic models only, so old histories keep decoding as fields are added with defaults."""

from enum import StrEnum

from pydantic import BaseModel, Field

from agents.reasoning.explanations import ProposalExplanation
from optiinfra.domain.agent_requests import AgentRequest
from optiinfra.domain.application import ApplicationProfile
from optiinfra.domain.enums import AgentKind, RecommendationStatus
from optiinfra.domain.fleet import Customer, Workload, WorkloadSnapshot
from optiinfra.domain.recommendation import (
    Approval,
    CompensationStep,
    ExecutionStep,
    Proposal,
    Recommendation,
    StepResult,
)
from optiinfra.llm.usage import LlmUsage


class ExecutionTiming(BaseModel):
    """Durations the workflow waits for; the starter fills them from settings (workflows read no env)."""

    approval_timeout_seconds: int = Field(default=72 * 3600, gt=0)
    verify_delay_seconds: int = Field(default=2 * 3600, ge=0)
    activity_timeout_seconds: int = Field(default=600, gt=0)
    activity_heartbeat_seconds: int = Field(
        default=30, gt=0, description="Cloud steps heartbeat while they wait; silence means a dead worker"
    )
    activity_max_attempts: int = Field(default=5, gt=0)


class OptimizationRequest(BaseModel):
    customer_id: str
    workload_id: str
    agent: AgentKind
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)


class WorkflowPhase(StrEnum):
    """What the workflow is doing, as shown in the OptiStatus search attribute. The recommendation's
    own statuses appear here too, so one attribute finds e.g. everything waiting for approval."""

    COLLECTING = "collecting"
    ANALYZING = "analyzing"
    NO_ACTION = "no_action"
    PENDING_APPROVAL = RecommendationStatus.PENDING_APPROVAL.value
    APPROVED = RecommendationStatus.APPROVED.value
    REJECTED = RecommendationStatus.REJECTED.value
    EXPIRED = RecommendationStatus.EXPIRED.value
    EXECUTING = RecommendationStatus.EXECUTING.value
    VERIFYING = "verifying"
    EXECUTED = RecommendationStatus.EXECUTED.value
    ROLLED_BACK = RecommendationStatus.ROLLED_BACK.value
    FAILED = RecommendationStatus.FAILED.value


class OptimizationStatus(BaseModel):
    """Answer of the `get_status` query, and the workflow's result."""

    workflow_id: str
    phase: WorkflowPhase
    recommendation: Recommendation | None = None
    alternatives: list[str] = Field(default_factory=list)
    gate_reason: str | None = None
    approval: Approval | None = None
    step_results: list[StepResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    failure_reason: str | None = None


class WorkloadRef(BaseModel):
    customer_id: str
    workload_id: str


class WorkloadContext(BaseModel):
    customer: Customer
    workload: Workload
    agent: AgentKind | None = Field(
        default=None, description="The agent the snapshot is for: what only it reads is read only for it"
    )


class AnalyzeInput(BaseModel):
    agent: AgentKind
    snapshot: WorkloadSnapshot
    requests: list[AgentRequest] = Field(
        default_factory=list, description="What other agents asked this one to look at (signals received)"
    )


class AgentRequestDelivery(BaseModel):
    """One agent's request, on its way to the other agent's workflow for the same workload."""

    customer_id: str
    workload_id: str
    request: AgentRequest
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)


class ApplicationProfileResult(BaseModel):
    profile: ApplicationProfile | None = Field(
        default=None, description="None when the workload logged no requests within the lookback"
    )


class AgentRequestReceipt(BaseModel):
    workflow_id: str = Field(description="The addressee's run, started by the request or already running")


class StatusChange(BaseModel):
    recommendation_id: str
    status: RecommendationStatus
    actor: str
    reason: str | None = None
    approval: Approval | None = None


class StepRecord(BaseModel):
    recommendation_id: str
    result: StepResult


class StepRequest(BaseModel):
    step: ExecutionStep


class CompensationRequest(BaseModel):
    step_id: str
    compensation: CompensationStep


class VerifyRequest(BaseModel):
    recommendation: Recommendation


class VerificationResult(BaseModel):
    passed: bool
    problems: list[str] = Field(default_factory=list)


class ActivityName:
    """Activity names, so workflows call activities without importing their I/O-bound modules."""

    LOAD_WORKLOAD = "load_workload"
    COLLECT_SNAPSHOT = "collect_workload_snapshot"
    ANALYZE = "analyze_workload"
    PERSIST_RECOMMENDATION = "persist_recommendation"
    CHANGE_STATUS = "change_recommendation_status"
    RECORD_STEP = "record_step_result"
    RECORD_OUTCOME = "record_outcome"
    EXECUTE_STEP = "execute_step"
    COMPENSATE_STEP = "compensate_step"
    VERIFY = "verify_execution"
    LIST_WORKLOADS = "list_workloads"
    COLLECT_METRICS = "collect_workload_metrics"
    EXPLAIN_PROPOSAL = "explain_proposal"
    EXECUTE_KUBE_STEP = "execute_kube_step"
    COMPENSATE_KUBE_STEP = "compensate_kube_step"
    VERIFY_KUBE = "verify_kube_execution"
    SEND_AGENT_REQUEST = "send_agent_request"
    COLLECT_APPLICATION_PROFILE = "collect_application_profile"


class WorkloadList(BaseModel):
    workloads: list[Workload]


class MetricsCollectionRequest(BaseModel):
    activity_timeout_seconds: int = Field(default=120, gt=0)


class MetricsCollectionSummary(BaseModel):
    workloads: int
    utilization_rows: int
    window_rows: int
    failures: list[str] = Field(default_factory=list)


class ExplainRequest(BaseModel):
    customer_id: str = Field(
        description="Whose daily language-model budget the explanation spends, under whose privacy tier"
    )
    proposal: Proposal


class ExplainResult(BaseModel):
    explanation: ProposalExplanation
    usage: LlmUsage
