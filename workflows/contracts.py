"""Inputs, outputs and status of the optimization workflows: what starters, activities and the API share.
Pydantic models only, so old histories keep decoding as fields are added with defaults."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from agents.reasoning.explanations import ProposalExplanation
from optiinfra.domain.agent_requests import AgentRequest
from optiinfra.domain.application import ApplicationProfile
from optiinfra.domain.coordination import Conflict, CustomerConstraints, Resolution
from optiinfra.domain.enums import AgentKind, RecommendationStatus
from optiinfra.domain.fleet import Customer, Workload, WorkloadSnapshot
from optiinfra.domain.learning import ConfidenceAdjustment, LearnedOutcome
from optiinfra.domain.recommendation import (
    Approval,
    CompensationStep,
    ExecutionStep,
    Proposal,
    Recommendation,
    StepResult,
)
from optiinfra.domain.regression import RegressionThresholds, RegressionVerdict, RootCauseNote, ServingHealth
from optiinfra.llm.usage import LlmUsage

RETRY_MAX_INTERVAL_SECONDS = 30
"""The longest backoff between two attempts of an activity."""


class ExecutionTiming(BaseModel):
    """Durations the workflow waits for; the starter fills them from settings (workflows read no env)."""

    approval_timeout_seconds: int = Field(default=72 * 3600, gt=0)
    verify_delay_seconds: int = Field(default=2 * 3600, ge=0)
    activity_timeout_seconds: int = Field(default=600, gt=0)
    activity_heartbeat_seconds: int = Field(
        default=30, gt=0, description="Cloud steps heartbeat while they wait; silence means a dead worker"
    )
    activity_max_attempts: int = Field(default=5, gt=0)
    regression_watch_seconds: int = Field(
        default=3600,
        ge=0,
        description="How long after a verified change its serving is compared with the baseline",
    )
    regression_baseline_seconds: int = Field(
        default=24 * 3600, gt=0, description="The period before a change its baseline is measured over"
    )
    regression_thresholds: RegressionThresholds = Field(
        default_factory=RegressionThresholds, description="What counts as a regression after a change"
    )
    lock_poll_seconds: int = Field(
        default=30, gt=0, description="How often a run waiting for the workload's lock asks again"
    )
    lock_wait_seconds: int | None = Field(
        default=None,
        ge=0,
        description=(
            "How long a run waits for another optimization of the workload to finish executing; None: as "
            "long as the other's lease (past it, the lock is taken over)"
        ),
    )

    @property
    def activity_budget_seconds(self) -> int:
        """The longest one activity can take, every attempt timing out and each retry backing off at most
        `RETRY_MAX_INTERVAL_SECONDS`."""
        attempts = self.activity_max_attempts
        return attempts * self.activity_timeout_seconds + (attempts - 1) * RETRY_MAX_INTERVAL_SECONDS

    def lock_lease_seconds(self, steps: int) -> int:
        """The longest a run of `steps` steps can need the workload's lock: every step and its compensation,
        the baseline and the verification at their activity budget, the verify delay and the watch."""
        activities = 2 * steps + 2
        return (
            activities * self.activity_budget_seconds
            + self.verify_delay_seconds
            + self.regression_watch_seconds
        )


class OptimizationMode(StrEnum):
    FULL = "full"
    """Analyze, then carry out the best proposal (a run started on its own)."""
    PROPOSE = "propose"
    """Analyze and return the proposals: a joint optimization decides what runs."""
    EXECUTE = "execute"
    """Carry out the proposal a joint optimization accepted: persist, gate, saga, verify, watch."""


class OptimizationRequest(BaseModel):
    customer_id: str
    workload_id: str
    agent: AgentKind
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)
    mode: OptimizationMode = OptimizationMode.FULL
    proposal: Proposal | None = Field(default=None, description="Execute mode: the accepted proposal")
    context: dict[str, float] = Field(
        default_factory=dict, description="Execute mode: the workload's features when it was proposed"
    )
    requests: list[AgentRequest] = Field(
        default_factory=list, description="Propose mode: requests of other agents, delivered by the parent"
    )


class WorkflowPhase(StrEnum):
    """What the workflow is doing, as shown in the OptiStatus search attribute. The recommendation's
    own statuses appear here too, so one attribute finds e.g. everything waiting for approval."""

    COLLECTING = "collecting"
    ANALYZING = "analyzing"
    NO_ACTION = "no_action"
    PROPOSED = "proposed"
    PENDING_APPROVAL = RecommendationStatus.PENDING_APPROVAL.value
    APPROVED = RecommendationStatus.APPROVED.value
    REJECTED = RecommendationStatus.REJECTED.value
    EXPIRED = RecommendationStatus.EXPIRED.value
    EXECUTING = RecommendationStatus.EXECUTING.value
    VERIFYING = "verifying"
    WATCHING = "watching"
    EXECUTED = RecommendationStatus.EXECUTED.value
    ROLLED_BACK = RecommendationStatus.ROLLED_BACK.value
    FAILED = RecommendationStatus.FAILED.value
    SUPERSEDED = RecommendationStatus.SUPERSEDED.value


DECISION_REFUSED = "DecisionRefused"
"""The type of the ApplicationError a refused `decide` update fails with; its details hold the decision
that won, when one did."""


class RefusedDecision(BaseModel):
    """A decision that reached the workflow after another one won, or while it waited for none."""

    approval: Approval = Field(description="As sent; `decided_at` is when it arrived")
    refusal: str = Field(description="Why, naming the decision that won or the phase the run was in")
    via: Literal["update", "signal"]


class OptimizationStatus(BaseModel):
    """Answer of the `get_status` query, and the workflow's result."""

    workflow_id: str
    phase: WorkflowPhase
    recommendation: Recommendation | None = None
    alternatives: list[str] = Field(default_factory=list)
    gate_reason: str | None = None
    approval: Approval | None = None
    refused_decisions: list[RefusedDecision] = Field(
        default_factory=list,
        description=(
            "Decisions refused in the run's history: approve/reject signals, and `decide` updates that "
            "passed validation but lost to one accepted before them (updates the validator refused left no "
            "event; their callers were told, and the audit has them)"
        ),
    )
    step_results: list[StepResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    failure_reason: str | None = None
    proposals: list[Proposal] = Field(default_factory=list, description="Propose mode: ranked, best first")
    requests: list[AgentRequest] = Field(
        default_factory=list, description="Propose mode: what this agent asks other agents to look at"
    )
    context: dict[str, float] = Field(default_factory=dict, description="The workload's features (learning)")
    confidence_adjustments: list[ConfidenceAdjustment] = Field(default_factory=list)
    regression: RegressionVerdict | None = None
    root_cause: RootCauseNote | None = None


class WorkloadRef(BaseModel):
    customer_id: str
    workload_id: str


class PreviewRequest(BaseModel):
    """Read a workload's objects for a recommendation's preview."""

    customer_id: str
    workload_id: str
    timing: ExecutionTiming


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


class StoredSnapshot(BaseModel):
    """A workload snapshot kept in the database by `collect_stored_snapshot`: the workflow's history holds
    this reference, not the snapshot and its metric series."""

    snapshot_id: str
    size_bytes: int = Field(description="The snapshot's JSON size, before compression")


class AnalyzeStoredInput(BaseModel):
    """`AnalyzeInput` with the snapshot by reference, and the application profile collected beside it."""

    agent: AgentKind
    snapshot_id: str
    application: ApplicationProfile | None = None
    requests: list[AgentRequest] = Field(default_factory=list)


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


class WorkloadLock(BaseModel):
    """The workload's execution lock, asked for by (or released for) the run `holder`."""

    customer_id: str
    workload_id: str
    holder: str
    lease_seconds: int = Field(gt=0, description="The longest the holder can need it (its timing's bound)")


class LockAnswer(BaseModel):
    held_by: str | None = Field(
        default=None, description="The run holding the lock; None when the asker has it"
    )
    held_until: datetime | None = Field(default=None, description="The end of the holder's lease")


class StepRecord(BaseModel):
    recommendation_id: str
    result: StepResult


class AccountRef(BaseModel):
    """Whose account a cloud step acts in: the customer (its connection, if it has one) and the workload's
    region. Unset (requests recorded before connections): the worker's default account."""

    customer_id: str | None = None
    region: str | None = None


class StepRequest(AccountRef):
    step: ExecutionStep


class CompensationRequest(AccountRef):
    step_id: str
    compensation: CompensationStep


class VerifyRequest(AccountRef):
    recommendation: Recommendation


class VerificationResult(BaseModel):
    passed: bool
    problems: list[str] = Field(default_factory=list)


class ActivityName:
    """Activity names, so workflows call activities without importing their I/O-bound modules."""

    LOAD_WORKLOAD = "load_workload"
    COLLECT_SNAPSHOT = "collect_workload_snapshot"
    ANALYZE = "analyze_workload"
    COLLECT_STORED_SNAPSHOT = "collect_stored_snapshot"
    ANALYZE_STORED = "analyze_stored_snapshot"
    PERSIST_RECOMMENDATION = "persist_recommendation"
    CHANGE_STATUS = "change_recommendation_status"
    RECORD_STEP = "record_step_result"
    RECORD_OUTCOME = "record_outcome"
    EXECUTE_STEP = "execute_step"
    COMPENSATE_STEP = "compensate_step"
    VERIFY = "verify_execution"
    LIST_WORKLOADS = "list_workloads"
    LIST_SCAN_PAGE = "list_scan_page"
    COLLECT_METRICS = "collect_workload_metrics"
    EXPLAIN_PROPOSAL = "explain_proposal"
    EXECUTE_KUBE_STEP = "execute_kube_step"
    COMPENSATE_KUBE_STEP = "compensate_kube_step"
    VERIFY_KUBE = "verify_kube_execution"
    SEND_AGENT_REQUEST = "send_agent_request"
    COLLECT_APPLICATION_PROFILE = "collect_application_profile"
    # regression defense
    MEASURE_SERVING_HEALTH = "measure_serving_health"
    CHECK_REGRESSION = "check_regression"
    EXPLAIN_REGRESSION = "explain_regression"
    LOAD_ROLLBACK_PLAN = "load_rollback_plan"
    FIND_RECENT_CHANGE = "find_recent_change"
    # learning
    ADJUST_CONFIDENCE = "adjust_confidence"
    RECORD_LEARNED_OUTCOME = "record_learned_outcome"
    # coordination
    COORDINATE = "coordinate_proposals"
    RECORD_CONFLICTS = "record_conflicts"
    # one change per workload at a time
    ACQUIRE_WORKLOAD_LOCK = "acquire_workload_lock"
    RELEASE_WORKLOAD_LOCK = "release_workload_lock"
    READ_OBJECTS = "read_workload_objects"


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


# ---- regression defense ------------------------------------------------------------------------


class HealthRequest(BaseModel):
    customer_id: str
    workload_id: str
    since: datetime
    until: datetime


class RegressionCheck(BaseModel):
    """Compare the workload's serving since `since` with `baseline` by the rules."""

    baseline: ServingHealth
    since: datetime
    until: datetime
    thresholds: RegressionThresholds = Field(default_factory=RegressionThresholds)


class RootCauseRequest(BaseModel):
    customer_id: str
    verdict: RegressionVerdict
    recent_change: Recommendation | None = Field(
        default=None, description="Our change to the workload just before the regression, if any"
    )


class RecentChangeQuery(BaseModel):
    customer_id: str
    workload_id: str
    since: datetime


class RecentChange(BaseModel):
    recommendation: Recommendation | None = None


class RollbackPlan(BaseModel):
    """The compensations that undo an executed recommendation, last applied first; `refused` says why it
    cannot be undone automatically (e.g. a finalize step already removed what a compensation needs)."""

    recommendation: Recommendation
    compensations: list[CompensationRequest] = Field(default_factory=list)
    refused: str | None = None


class RollbackRequest(BaseModel):
    recommendation_id: str
    reason: str
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)


class RegressionWatchRequest(BaseModel):
    """One scheduled pass: every workload's last `current_seconds` against the `baseline_seconds` before."""

    current_seconds: int = Field(default=3600, gt=0)
    baseline_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    attribution_seconds: int = Field(
        default=24 * 3600, gt=0, description="Our change this recent is taken as a regression's cause"
    )
    thresholds: RegressionThresholds = Field(default_factory=RegressionThresholds)
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)


class WorkloadRegression(BaseModel):
    customer_id: str
    workload_id: str
    verdict: RegressionVerdict
    root_cause: RootCauseNote | None = None
    rolled_back_by: str | None = Field(default=None, description="The rollback workflow started, if any")


class RegressionWatchSummary(BaseModel):
    workloads: int
    regressions: list[WorkloadRegression] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)


# ---- learning ------------------------------------------------------------------------------------


class ConfidenceQuery(BaseModel):
    customer_id: str
    workload_id: str
    context: dict[str, float] = Field(default_factory=dict)
    proposals: list[Proposal]


class ConfidenceResult(BaseModel):
    """The proposals with confidence adjusted and past outcomes cited in their reasoning, same order."""

    proposals: list[Proposal]
    adjustments: list[ConfidenceAdjustment] = Field(default_factory=list)


class LearnedOutcomeRecord(BaseModel):
    outcome: LearnedOutcome


# ---- joint optimization and the fleet scan -----------------------------------------------------------

ALL_AGENTS: tuple[AgentKind, ...] = (
    AgentKind.PERFORMANCE,
    AgentKind.RESOURCE,
    AgentKind.COST,
    AgentKind.APPLICATION,
)


class JointOptimizationRequest(BaseModel):
    customer_id: str
    workload_id: str
    agents: list[AgentKind] = Field(default_factory=lambda: list(ALL_AGENTS), min_length=1)
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)
    constraints: CustomerConstraints = Field(default_factory=CustomerConstraints)
    report_to: str | None = Field(
        default=None,
        description=(
            "The fleet scan that started this run (its workflow id): signalled `joint_settled` once the "
            "agents' proposals are in and resolved, so the scan keeps a bounded number of runs proposing"
        ),
    )


JOINT_SETTLED_SIGNAL = "joint_settled"
"""Signal of a joint run to the fleet scan that started it: its proposing is over (argument: its id)."""


class JointPhase(StrEnum):
    PROPOSING = "proposing"
    RESOLVING = "resolving"
    EXECUTING = "executing"
    DONE = "done"
    NO_ACTION = "no_action"


class AgentProposals(BaseModel):
    agent: AgentKind
    workflow_id: str
    proposals: list[Proposal] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    requests: list[AgentRequest] = Field(default_factory=list, description="What it asked other agents")
    failure: str | None = None


class ChildExecution(BaseModel):
    agent: AgentKind
    workflow_id: str
    title: str
    phase: WorkflowPhase | None = None
    failure_reason: str | None = None


class JointStatus(BaseModel):
    """Answer of the joint workflow's `get_status` query, and its result."""

    workflow_id: str
    customer_id: str
    workload_id: str
    phase: JointPhase
    proposals: list[AgentProposals] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    resolutions: list[Resolution] = Field(default_factory=list)
    accepted: list[str] = Field(default_factory=list, description="Titles of the proposals carried out")
    executions: list[ChildExecution] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ConflictRecord(BaseModel):
    joint_workflow_id: str
    customer_id: str
    workload_id: str
    conflicts: list[Conflict]
    resolutions: list[Resolution]


class CoordinationRequest(BaseModel):
    """Each agent's best proposal for the workload, to be checked for conflicts and resolved."""

    customer_id: str
    candidates: list[Proposal]
    constraints: CustomerConstraints
    slo_compliance: float | None = Field(
        default=None, description="Share of recent windows within the SLO, for `min_slo_compliance`"
    )


class CoordinationResult(BaseModel):
    conflicts: list[Conflict] = Field(default_factory=list)
    resolutions: list[Resolution] = Field(default_factory=list)
    accepted: list[Proposal] = Field(default_factory=list, description="To carry out, in this order")
    notes: list[str] = Field(default_factory=list)


class ScanPageRequest(BaseModel):
    customer_id: str | None = None
    after: tuple[str, str] | None = Field(default=None, description="(customer_id, workload_id) last listed")
    limit: int = Field(gt=0)


class ScanItem(BaseModel):
    customer_id: str
    workload_id: str
    in_flight: str | None = Field(
        default=None, description="Why a change of ours is in flight on it (then it is skipped), or None"
    )


class ScanPage(BaseModel):
    """Workloads in (customer_id, workload_id) order after the request's key; `after` is the last one's key,
    None when the listing is complete."""

    items: list[ScanItem]
    after: tuple[str, str] | None


ScanOutcome = Literal["started", "already_running", "failures", "skipped_in_flight"]
SUMMARY_IDS = 100
"""The summary keeps at most this many ids per list (its counts are complete): a scan of thousands of
workloads keeps a small history."""
_COUNT_OF: dict[ScanOutcome, str] = {
    "started": "started_count",
    "already_running": "already_running_count",
    "failures": "failure_count",
    "skipped_in_flight": "skipped_in_flight_count",
}
"""Each outcome's id list (the outcome's own name) and the field that counts it."""


class FleetScanSummary(BaseModel):
    started: list[str] = Field(default_factory=list, description="Joint optimization workflow ids started")
    already_running: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    skipped_in_flight: list[str] = Field(
        default_factory=list, description="Workloads (customer/workload) with a change of ours in flight"
    )
    scanned: int = Field(default=0, description="Workloads listed so far")
    started_count: int = 0
    already_running_count: int = 0
    failure_count: int = 0
    skipped_in_flight_count: int = 0
    unreported_count: int = Field(
        default=0,
        description=(
            "Runs the scan stopped waiting for: they had not reported the end of their proposing within "
            "`in_flight_timeout_seconds`"
        ),
    )

    def add(self, kind: ScanOutcome, item: str) -> None:
        """Count one outcome, keeping its id while the list is under SUMMARY_IDS."""
        found: list[str] = getattr(self, kind)
        if len(found) < SUMMARY_IDS:
            found.append(item)
        setattr(self, _COUNT_OF[kind], getattr(self, _COUNT_OF[kind]) + 1)


class FleetScanProgress(BaseModel):
    """What a scan carries from one run to the next (continue-as-new) and answers to its `progress` query."""

    scanned_at: datetime
    after: tuple[str, str] | None = None
    done: bool = False
    runs: int = Field(default=1, description="Runs of this scan so far, the first included")
    summary: FleetScanSummary = Field(default_factory=FleetScanSummary)
    in_flight: list[str] = Field(
        default_factory=list, description="Joint runs started and still proposing (at most `max_in_flight`)"
    )


class FleetScanRequest(BaseModel):
    """One scan: a joint optimization for every workload (of one customer, when given), started in
    batches of `batch_size` with at most `max_in_flight` proposing at once, continuing as new after
    `batches_per_run` batches."""

    customer_id: str | None = None
    agents: list[AgentKind] = Field(default_factory=lambda: list(ALL_AGENTS), min_length=1)
    timing: ExecutionTiming = Field(default_factory=ExecutionTiming)
    batch_size: int = Field(default=100, gt=0, le=1000)
    batches_per_run: int = Field(default=10, gt=0)
    max_in_flight: int = Field(
        default=200,
        gt=0,
        description=(
            "Joint runs proposing at once: the next batch starts when there is room for it, so the workers "
            "work a bounded set of runs through (their caches hold them) instead of all the fleet at once"
        ),
    )
    in_flight_timeout_seconds: int = Field(
        default=1800, gt=0, description="How long the scan waits for room before it stops waiting for runs"
    )
    progress: FleetScanProgress | None = Field(
        default=None, description="Set by the scan itself when it continues as new; None to start one"
    )
