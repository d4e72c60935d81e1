"""Small valid domain objects for store tests."""

from datetime import UTC, datetime

from optiinfra.domain.enums import (
    AgentKind,
    DecisionKind,
    OperatingMode,
    RecommendationStatus,
    RecommendationType,
    RiskLevel,
    StepAction,
    StepPhase,
    StepStatus,
)
from optiinfra.domain.fleet import AutomationPolicy, Customer, Workload
from optiinfra.domain.recommendation import (
    Approval,
    CompensationStep,
    ExecutionStep,
    Outcome,
    Recommendation,
    StepResult,
)

T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def customer(customer_id: str = "acme", name: str = "Acme Inc.") -> Customer:
    policy = AutomationPolicy(
        operating_mode=OperatingMode.SEMI_AUTONOMOUS,
        auto_execute_min_confidence=0.85,
        auto_execute_max_risk=RiskLevel.MEDIUM,
    )
    return Customer(customer_id=customer_id, name=name, automation=policy)


def workload(customer_id: str = "acme", workload_id: str = "chat") -> Workload:
    return Workload(
        customer_id=customer_id,
        workload_id=workload_id,
        name="Chat assistant",
        model_name="meta-llama/Llama-3.1-8B-Instruct",
        region="us-east-1",
        stateless=True,
        critical=True,
        min_on_demand_instances=2,
    )


def recommendation(
    recommendation_id: str = "rec-1",
    *,
    customer_id: str = "acme",
    status: RecommendationStatus = RecommendationStatus.PENDING_APPROVAL,
    created_at: datetime = T0,
) -> Recommendation:
    step = ExecutionStep(
        step_id="launch-1",
        phase=StepPhase.APPLY,
        action=StepAction.LAUNCH_REPLACEMENT,
        target="i-0abc",
        params={"instance_type": "g5.xlarge", "lifecycle": "spot"},
        description="Launch a spot replacement",
        compensation=CompensationStep(
            action=StepAction.TERMINATE_LAUNCHED, target="i-0abc", description="Terminate it again"
        ),
    )
    return Recommendation(
        recommendation_id=recommendation_id,
        workflow_id=f"wf-{recommendation_id}",
        customer_id=customer_id,
        workload_id="chat",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        status=status,
        title="Move chat to spot",
        reasoning="Stateless replicas with low interruption rates.",
        estimated_monthly_savings_usd=1234.56,
        current_monthly_cost_usd=3000.0,
        projected_monthly_cost_usd=1765.44,
        confidence=0.9,
        risk_level=RiskLevel.LOW,
        steps=[step, step.model_copy(update={"step_id": "finalize-1", "phase": StepPhase.FINALIZE})],
        evidence={"spot_interruption_bucket": 0.0, "source": "spot-advisor"},
        created_at=created_at,
    )


def step_result(step_id: str = "launch-1", status: StepStatus = StepStatus.SUCCEEDED) -> StepResult:
    return StepResult(
        step_id=step_id,
        action=StepAction.LAUNCH_REPLACEMENT,
        target="i-0abc",
        status=status,
        detail="launched i-0def",
        resource_ids=["i-0def"],
        finished_at=T0,
    )


def approval() -> Approval:
    return Approval(decision=DecisionKind.APPROVE, approver="ops@acme", reason="go", decided_at=T0)


def outcome(recommendation_id: str = "rec-1") -> Outcome:
    return Outcome(
        recommendation_id=recommendation_id,
        workflow_id=f"wf-{recommendation_id}",
        status=RecommendationStatus.EXECUTED,
        approval=approval(),
        step_results=[step_result()],
        verification_passed=True,
        estimated_monthly_savings_usd=1234.56,
        finished_at=T0,
    )
