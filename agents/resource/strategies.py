"""The Resource agent's analysis of one workload: its memory pressure, then OOM prevention (when pressure
is high) and a KV tiering plan, ranked: relieving high pressure first, then by savings. Under high pressure
it also asks the Application agent to cut context; asked for longer contexts, it answers that first."""

from collections.abc import Sequence

from agents.performance.serving import serving_context
from agents.performance.slo import slo_target
from agents.resource.context_window import analyze_context_request, context_reduction_request
from agents.resource.host_memory import analyze_host_memory
from agents.resource.oom import analyze_oom_prevention
from agents.resource.pressure import memory_pressure
from agents.resource.tiering import analyze_kv_tiering
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.enums import RecommendationType
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult, Proposal


def analyze_resource(snapshot: WorkloadSnapshot, requests: Sequence[AgentRequest] = ()) -> AnalysisResult:
    workload = snapshot.workload
    target = slo_target(workload)
    if target is None:
        return AnalysisResult(
            notes=[
                f"{workload.workload_id} declares no latency objective (slo_ttft_p95_s, slo_itl_p95_s): "
                "the capacity a memory change buys cannot be judged against it"
            ]
        )
    pods = snapshot.deployment.pods if snapshot.deployment is not None else []
    pressure = memory_pressure(snapshot.windows, pods, snapshot.collected_at)
    notes = [pressure.describe().capitalize()]
    profile = snapshot.prefix_cache
    if profile is not None:
        notes.append(
            f"prefix trace {profile.source}: {profile.requests:,} requests, context p50 "
            f"{profile.context_p50_tokens:,} / p95 {profile.context_p95_tokens:,} / max "
            f"{profile.context_max_tokens:,} tokens, hit rate with unlimited cache "
            f"{profile.unlimited_hit_rate:.1%}"
        )
    context = serving_context(snapshot, target)
    if isinstance(context, str):
        notes.append(f"no memory plan: {context}")
        return AnalysisResult(notes=notes)
    asked = [
        analyze_context_request(context, request)
        for request in requests
        if request.kind is AgentRequestKind.ADD_KV_CAPACITY
    ]
    proposals: list[Proposal] = []
    for found in (
        *asked,
        analyze_oom_prevention(context, pressure, profile),
        analyze_host_memory(context, pressure),
        analyze_kv_tiering(snapshot, context, profile, pressure.oom_events),
    ):
        if isinstance(found, str):
            notes.append(found)
        else:
            proposals.append(found)
    proposals.sort(key=lambda p: (_rank(p), -p.estimated_monthly_savings_usd))
    reduction = context_reduction_request(context, pressure)
    return AnalysisResult(proposals=proposals, notes=notes, requests=[reduction] if reduction else [])


def _rank(proposal: Proposal) -> int:
    """Relieving pressure first, then what another agent asked for, then the rest by savings."""
    if proposal.type is RecommendationType.OOM_PREVENTION:
        return 0
    return 1 if proposal.type is RecommendationType.CONTEXT_RIGHT_SIZING else 2
