"""Analysis activity: runs the agent's pure analyzers. An activity rather than workflow code so that
analyzers can evolve without breaking the replay of running workflows."""

import asyncio
import resource
import time
from collections.abc import Callable
from typing import TypeVar

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
from optiinfra.engine.metrics_runtime import ANALYSIS_CPU_SECONDS
from optiinfra.learning.features import workload_context
from optiinfra.settings import Settings
from workflows.contracts import ActivityName, AnalyzeInput

SLO_COMPLIANCE = "slo_compliance"

T = TypeVar("T")


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
        result, analyzer_cpu = await asyncio.to_thread(cpu_timed, self.run_analyzer, request)
        result.context, context_cpu = await asyncio.to_thread(cpu_timed, analysis_context, request.snapshot)
        record_analysis_cpu(request.agent, analyzer_cpu + context_cpu)
        result.proposals, held_back = within_budget(result.proposals, request.snapshot)
        result.notes = [*result.notes, *held_back]
        return result

    def run_analyzer(self, request: AnalyzeInput) -> AnalysisResult:
        """The agent's analyzer on the snapshot (blocking: called off the event loop)."""
        snapshot = request.snapshot
        if request.agent is AgentKind.COST:
            return analyze_cost(snapshot, requests=request.requests)
        if request.agent is AgentKind.PERFORMANCE:
            return analyze_performance(snapshot, self._scaling, requests=request.requests)
        if request.agent is AgentKind.RESOURCE:
            return analyze_resource(snapshot, request.requests)
        if request.agent is AgentKind.APPLICATION:
            return analyze_application(snapshot, self._model_prices, requests=request.requests)
        raise ApplicationError(f"the {request.agent.value} agent is not available", non_retryable=True)


def cpu_timed(work: Callable[..., T], *args: object) -> tuple[T, float]:
    """`work(*args)` and the CPU seconds it took: this thread's, plus those of the child processes that
    ended meanwhile (Prophet fits in a CmdStan process). Children are counted per process, so with two
    analyses at once one may be charged a fit of the other; one analysis slot makes it exact."""
    thread_start, children_start = time.thread_time(), _children_cpu_seconds()
    result = work(*args)
    return result, time.thread_time() - thread_start + _children_cpu_seconds() - children_start


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record_analysis_cpu(agent: AgentKind, seconds: float) -> None:
    """One analysis's CPU on the worker's metrics endpoint, by agent (nothing outside an activity)."""
    if not activity.in_activity():
        return
    activity.metric_meter().create_histogram_float(
        ANALYSIS_CPU_SECONDS, "CPU seconds of each analysis (analyzer and features), by agent"
    ).record(seconds, {"agent": agent.value})


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
