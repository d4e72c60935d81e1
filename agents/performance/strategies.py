"""The Performance agent's analysis of one workload: SLO compliance, then replica scaling and batch tuning
proposals (ranked: restoring a missed SLO first, then by savings), with load-balancing and
tensor-parallel advice as notes."""

from collections.abc import Sequence
from datetime import timedelta

from agents.performance.advice import balancing_advice, tensor_parallel_advice
from agents.performance.autoscaler import analyze_reactive_autoscaler, retune_autoscaler
from agents.performance.scaling import DEFAULT_SETTINGS, ScalingSettings, analyze_replica_scaling
from agents.performance.serving import ServingContext, serving_context
from agents.performance.slo import SloCompliance, compliance, compliance_since, slo_target
from agents.performance.tuning import analyze_serving_tuning
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult, Proposal

RECENT = timedelta(hours=1)


def analyze_performance(
    snapshot: WorkloadSnapshot,
    settings: ScalingSettings = DEFAULT_SETTINGS,
    *,
    requests: Sequence[AgentRequest] = (),
) -> AnalysisResult:
    result = _analyze(snapshot, settings)
    rechecks = [r for r in requests if r.kind is AgentRequestKind.RECHECK_SLO]
    result.notes[:0] = [
        f"SLO risk re-checked at the {r.from_agent.value} agent's request: {r.reason}" for r in rechecks
    ]
    return result


def _analyze(snapshot: WorkloadSnapshot, settings: ScalingSettings) -> AnalysisResult:
    workload = snapshot.workload
    target = slo_target(workload)
    if target is None:
        return AnalysisResult(
            notes=[
                f"{workload.workload_id} declares no latency objective (slo_ttft_p95_s, slo_itl_p95_s): "
                "the Performance agent has nothing to hold it to"
            ]
        )
    notes: list[str] = []
    overall: SloCompliance | None = None
    if snapshot.windows:
        overall = compliance(snapshot.windows, target)
        recent = compliance_since(snapshot.windows, target, snapshot.collected_at - RECENT)
        notes.append(f"SLO over the last day: {overall.describe()}")
        notes.append(f"SLO over the last hour: {recent.describe()}")
    context = serving_context(snapshot, target)
    if isinstance(context, str):
        notes.append(f"no scaling or tuning: {context}")
        return AnalysisResult(notes=notes)
    proposals: list[Proposal] = []
    for found in (
        *_replica_count(snapshot, context, overall, settings),
        analyze_serving_tuning(snapshot, context),
    ):
        if isinstance(found, str):
            notes.append(found)
        else:
            proposals.append(found)
    notes += _advice(snapshot, context)
    restores_slo = overall is not None and not overall.meets_objective
    proposals.sort(
        key=lambda p: (
            not (restores_slo and p.monthly_cost_increase_usd > 0),
            -p.estimated_monthly_savings_usd,
        )
    )
    return AnalysisResult(proposals=proposals, notes=notes)


def _replica_count(
    snapshot: WorkloadSnapshot,
    context: ServingContext,
    overall: SloCompliance | None,
    settings: ScalingSettings,
) -> list[Proposal | str]:
    """Who decides the replica count: an autoscaler of another shape (left alone), ours (its floor is
    retuned), else the scan's predictive count and, where enabled, the offer of an autoscaler."""
    deployment = context.deployment
    if deployment.foreign_autoscaler is not None:
        return [
            f"{deployment.foreign_autoscaler} owns the replica count of {deployment.ref}; "
            "the Performance agent leaves it"
        ]
    if deployment.autoscaler is not None:
        return [retune_autoscaler(snapshot, context, deployment.autoscaler, settings)]
    found = [analyze_replica_scaling(snapshot, context, overall, settings)]
    if settings.reactive_autoscaler:
        found.append(analyze_reactive_autoscaler(snapshot, context, settings))
    return found


def _advice(snapshot: WorkloadSnapshot, context: ServingContext) -> list[str]:
    capacities = {context.instance_type.name: context.current_capacity_rps}
    found = [
        balancing_advice(snapshot.replica_loads, capacities),
        tensor_parallel_advice(context),
    ]
    return [advice for advice in found if advice is not None]
