"""Analysis activity: runs the agent's pure analyzers. An activity rather than workflow code so that
analyzers can evolve without breaking the replay of running workflows."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.cost.strategies import analyze_cost
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import AnalysisResult
from workflows.contracts import ActivityName, AnalyzeInput


@activity.defn(name=ActivityName.ANALYZE)
async def analyze_workload(request: AnalyzeInput) -> AnalysisResult:
    if request.agent is AgentKind.COST:
        return analyze_cost(request.snapshot)
    raise ApplicationError(f"the {request.agent.value} agent is not available", non_retryable=True)
