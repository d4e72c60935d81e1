"""Analysis activity: runs the agent's pure analyzers. An activity rather than workflow code so that
analyzers can evolve without breaking the replay of running workflows."""

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.cost.strategies import analyze_cost
from agents.performance.strategies import analyze_performance
from agents.resource.strategies import analyze_resource
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import AnalysisResult
from workflows.contracts import ActivityName, AnalyzeInput


@activity.defn(name=ActivityName.ANALYZE)
async def analyze_workload(request: AnalyzeInput) -> AnalysisResult:
    # Analyzers are CPU-bound (integer programs, forecast fits): off the event loop, so heartbeats and
    # other activities of the worker keep running.
    if request.agent is AgentKind.COST:
        return await asyncio.to_thread(analyze_cost, request.snapshot)
    if request.agent is AgentKind.PERFORMANCE:
        return await asyncio.to_thread(analyze_performance, request.snapshot)
    if request.agent is AgentKind.RESOURCE:
        return await asyncio.to_thread(analyze_resource, request.snapshot)
    raise ApplicationError(f"the {request.agent.value} agent is not available", non_retryable=True)
