"""Constant-time stand-ins for the agents' analyzers (`bench scale --analysis stub`): orchestration,
persistence and history measured at fleet scale without the cost of forecasts and integer programs.

Every tenth workload (by a hash of its name, so the same ones on every run) gets one high-risk proposal
from the Cost agent, which then waits for a person as a real one would; the others get none."""

import zlib

from activities.analysis import AnalysisActivities
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel, StepAction
from optiinfra.domain.recommendation import AnalysisResult, CompensationStep, ExecutionStep, Proposal
from workflows.contracts import AnalyzeInput

PROPOSING_ONE_IN = 10
STUB_NOTE = "stand-in analyzer (bench scale --analysis stub): nothing measured"


def proposes(customer_id: str, workload_id: str) -> bool:
    return zlib.crc32(f"{customer_id}/{workload_id}".encode()) % PROPOSING_ONE_IN == 0


def stub_proposal(workload_id: str) -> Proposal:
    target = f"i-stub-{workload_id}"
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title=f"Resize {target} (stand-in)",
        reasoning="A stand-in proposal of the scale benchmark: it waits for a person and is never run.",
        estimated_monthly_savings_usd=100.0,
        current_monthly_cost_usd=1000.0,
        projected_monthly_cost_usd=900.0,
        confidence=0.9,
        risk_level=RiskLevel.HIGH,
        steps=[
            ExecutionStep(
                step_id="resize",
                action=StepAction.MODIFY_INSTANCE_TYPE,
                target=target,
                params={"instance_type": "g5.xlarge"},
                description=f"resize {target} to g5.xlarge",
                compensation=CompensationStep(
                    action=StepAction.MODIFY_INSTANCE_TYPE,
                    target=target,
                    params={"instance_type": "g5.2xlarge"},
                    description=f"resize {target} back to g5.2xlarge",
                ),
            )
        ],
    )


class StubAnalysis(AnalysisActivities):
    def run_analyzer(self, request: AnalyzeInput) -> AnalysisResult:
        workload = request.snapshot.workload
        if request.agent is AgentKind.COST and proposes(workload.customer_id, workload.workload_id):
            return AnalysisResult(proposals=[stub_proposal(workload.workload_id)], notes=[STUB_NOTE])
        return AnalysisResult(notes=[STUB_NOTE])
