"""Analysis activity: runs the agent's pure analyzers. An activity rather than workflow code so that
analyzers can evolve without breaking the replay of running workflows."""

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.application.strategies import analyze_application
from agents.budget import within_budget
from agents.cost.strategies import analyze_cost
from agents.performance.scaling import ScalingSettings
from agents.performance.slo import compliance, slo_target
from agents.performance.strategies import analyze_performance
from agents.resource.strategies import analyze_resource
from optiinfra.application.model_prices import ModelPriceTable
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult
from optiinfra.learning.features import workload_context
from optiinfra.settings import Settings
from workflows.contracts import ActivityName, AnalyzeInput

SLO_COMPLIANCE = "slo_compliance"


class AnalysisActivities:
    def __init__(
        self, model_prices: ModelPriceTable | None = None, scaling: ScalingSettings | None = None
    ) -> None:
        """`model_prices`: what the Application agent prices tokens with; the bundled table by default.
        `scaling`: the Performance agent's replica-count settings; its defaults when left out."""
        self._model_prices = model_prices or ModelPriceTable.load_default()
        self._scaling = scaling or ScalingSettings()

    @activity.defn(name=ActivityName.ANALYZE)
    async def analyze_workload(self, request: AnalyzeInput) -> AnalysisResult:
        # Analyzers are CPU-bound (integer programs, forecast fits): off the event loop, so heartbeats and
        # other activities of the worker keep running.
        result = await self._analyze(request)
        result.context = await asyncio.to_thread(analysis_context, request.snapshot)
        result.proposals, held_back = within_budget(result.proposals, request.snapshot)
        result.notes = [*result.notes, *held_back]
        return result

    async def _analyze(self, request: AnalyzeInput) -> AnalysisResult:
        snapshot = request.snapshot
        if request.agent is AgentKind.COST:
            return await asyncio.to_thread(analyze_cost, snapshot, requests=request.requests)
        if request.agent is AgentKind.PERFORMANCE:
            return await asyncio.to_thread(
                analyze_performance, snapshot, self._scaling, requests=request.requests
            )
        if request.agent is AgentKind.RESOURCE:
            return await asyncio.to_thread(analyze_resource, snapshot, request.requests)
        if request.agent is AgentKind.APPLICATION:
            return await asyncio.to_thread(
                analyze_application, snapshot, self._model_prices, requests=request.requests
            )
        raise ApplicationError(f"the {request.agent.value} agent is not available", non_retryable=True)


def scaling_settings(settings: Settings) -> ScalingSettings:
    """The Performance agent's replica-count settings an operator chose."""
    return ScalingSettings(reactive_autoscaler=settings.performance_reactive_autoscaler)


def analysis_context(snapshot: WorkloadSnapshot) -> dict[str, float]:
    """The workload's features for learning, and the share of the day's windows within its SLO (which a
    joint optimization's `min_slo_compliance` constraint reads)."""
    context = workload_context(snapshot)
    target = slo_target(snapshot.workload)
    if target is not None and snapshot.windows:
        share = compliance(snapshot.windows, target).compliance
        if share is not None:
            context[SLO_COMPLIANCE] = share
    return context
