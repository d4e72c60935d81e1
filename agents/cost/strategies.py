"""The Cost agent's entry point: run every strategy and rank what they found."""

from agents.cost.rightsizing import RightSizingParams, analyze_right_sizing
from agents.cost.spot import SpotMigrationParams, analyze_spot_migration
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult, Proposal


def analyze_cost(
    snapshot: WorkloadSnapshot,
    spot: SpotMigrationParams | None = None,
    right_sizing: RightSizingParams | None = None,
) -> AnalysisResult:
    """Proposals ranked by monthly savings. Strategies that replace the same replicas are alternatives:
    the caller executes one of them at a time."""
    result = AnalysisResult()
    for outcome in (analyze_right_sizing(snapshot, right_sizing), analyze_spot_migration(snapshot, spot)):
        if isinstance(outcome, Proposal):
            result.proposals.append(outcome)
        else:
            result.notes.append(outcome)
    result.proposals.sort(key=lambda p: p.estimated_monthly_savings_usd, reverse=True)
    return result
