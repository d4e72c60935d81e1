"""A realistic spot-migration proposal, as the Cost agent writes one, for explanation tests."""

from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel, StepAction
from optiinfra.domain.recommendation import ExecutionStep, Proposal


def spot_proposal(*, savings: float = 1997.43, confidence: float = 0.82) -> Proposal:
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        title="Move 1 replica(s) of batch-summarize to spot",
        reasoning=(
            "1 of 2 replicas of Batch summarize run on-demand (g5.12xlarge) and the workload is stateless "
            "and not critical. Spot capacity for these types is interrupted <5% of the time per month (AWS "
            "Spot Advisor), so 1 replica(s) stay on-demand as a floor. Each replacement is launched and "
            "serving before its on-demand instance is stopped; the stopped instances are terminated only "
            "after verification passes."
        ),
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=4140.0,
        projected_monthly_cost_usd=round(4140.0 - savings, 2),
        confidence=confidence,
        risk_level=RiskLevel.MEDIUM,
        steps=[
            ExecutionStep(
                step_id="launch-spot-1",
                action=StepAction.LAUNCH_REPLACEMENT,
                target="i-0abc",
                description="Launch a spot g5.12xlarge to replace i-0abc",
            )
        ],
        evidence={"interruption_bucket": 0.0, "on_demand_floor": 1.0, "replicas_moved": 1.0},
    )
