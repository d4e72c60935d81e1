"""A HorizontalPodAutoscaler on vLLM's own signal for a Kubernetes Deployment, with the forecast as its
floor.

An hourly decision cannot follow minute-scale load at a capacity cliff; a reactive scaler can. The
autoscaler holds vLLM's running requests per pod (`vllm:num_requests_running`, served to the HPA by a
Prometheus adapter or KEDA) at a share of the concurrency at which one replica still meets the SLO (from
the capacity layer, the same source the replica's capacity comes from). Its floor is what the forecast
needs by the time a new pod could serve (the forecast's mean, not its upper bound: the autoscaler adds
replicas above it as the load arrives); its ceiling is the agent's usual scale-up limit. Once an
autoscaler of ours owns the replica count, the scans retune its floor instead of scaling the Deployment
(the two would fight); an autoscaler of another shape is left alone."""

import math

from agents.kube_steps import apply_autoscaler_step
from agents.performance.scaling import ScalingSettings, forecast_sizing, scale_up_ceiling
from agents.performance.serving import ServingContext
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.kube import PodsMetricAutoscaler
from optiinfra.domain.recommendation import Proposal


def forecast_floor(
    snapshot: WorkloadSnapshot, context: ServingContext, settings: ScalingSettings
) -> int | str:
    """Replicas the forecast's mean needs when a pod started now could first serve (or what the rate
    measured now needs, if more); never below the agent's floor."""
    sized = forecast_sizing(snapshot, context, settings, interval_s=None, use_upper=False)
    return sized if isinstance(sized, str) else sized.decision.replicas


def autoscaler_for(
    snapshot: WorkloadSnapshot, context: ServingContext, settings: ScalingSettings
) -> PodsMetricAutoscaler | str:
    """The autoscaler the agent would run the Deployment with, or why it cannot size one."""
    floor = forecast_floor(snapshot, context, settings)
    if isinstance(floor, str):
        return floor
    return PodsMetricAutoscaler(
        ref=context.deployment.ref,
        min_replicas=floor,
        max_replicas=scale_up_ceiling(settings, floor, context.deployment.replicas),
        target_per_pod=round(context.slo_concurrency * settings.autoscaler_utilization, 3),
        scale_down_window_s=settings.autoscaler_scale_down_window_s,
    )


def expected_replicas(
    snapshot: WorkloadSnapshot, context: ServingContext, wanted: PodsMetricAutoscaler
) -> float:
    """Mean replicas the autoscaler would have run over the measured windows: each window's rate at the
    pods' target share of the SLO capacity, within the bounds."""
    capacity = context.current_capacity_rps * wanted.target_per_pod / max(context.slo_concurrency, 1e-9)
    served = [w for w in snapshot.windows if w.seconds > 0]
    if not served or capacity <= 0:
        return float(context.deployment.replicas)
    counts = [
        min(wanted.max_replicas, max(wanted.min_replicas, math.ceil(w.request_rate / capacity)))
        for w in served
    ]
    return sum(counts) / len(counts)


def analyze_reactive_autoscaler(
    snapshot: WorkloadSnapshot, context: ServingContext, settings: ScalingSettings
) -> Proposal | str:
    """A proposal to let an autoscaler on vLLM's running requests own the replica count."""
    wanted = autoscaler_for(snapshot, context, settings)
    if isinstance(wanted, str):
        return wanted
    current = context.deployment.replicas
    expected = expected_replicas(snapshot, context, wanted)
    monthly = context.replica_monthly_usd
    reasoning = (
        f"Between scans the load moves faster than an hourly count can follow. A HorizontalPodAutoscaler "
        f"would hold vLLM's running requests at {wanted.target_per_pod:g} per pod, "
        f"{settings.autoscaler_utilization:.0%} of the {context.slo_concurrency:.1f} in flight at which one "
        f"{context.instance_type.name} replica still meets the SLO ({context.sources}), between "
        f"{wanted.min_replicas} replicas (what the forecast needs by the time a new pod serves) and "
        f"{wanted.max_replicas}. Replayed on the last day's windows it would have run {expected:.1f} "
        f"replicas on average, against the {current} running. It needs a Prometheus adapter or KEDA serving "
        f"{wanted.metric} per pod; the scans then retune its floor instead of scaling the Deployment."
    )
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title=f"Autoscale {wanted.ref.name} on vLLM's running requests ({wanted.describe()})",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round((current - expected) * monthly, 2),
        current_monthly_cost_usd=current * monthly,
        projected_monthly_cost_usd=round(expected * monthly, 2),
        confidence=0.6,
        risk_level=RiskLevel.MEDIUM,
        steps=[apply_autoscaler_step(wanted, None)],
        evidence={
            "current_replicas": float(current),
            "min_replicas": float(wanted.min_replicas),
            "max_replicas": float(wanted.max_replicas),
            "target_running_per_pod": wanted.target_per_pod,
            "slo_concurrency": round(context.slo_concurrency, 3),
            "expected_mean_replicas": round(expected, 2),
            "metric": wanted.metric,
            "capacity_source": context.current_capacity.source.value,
        },
    )


def retune_autoscaler(
    snapshot: WorkloadSnapshot,
    context: ServingContext,
    current: PodsMetricAutoscaler,
    settings: ScalingSettings,
) -> Proposal | str:
    """A new floor (and target) for the autoscaler that owns the Deployment, or why it stays."""
    wanted = autoscaler_for(snapshot, context, settings)
    if isinstance(wanted, str):
        return wanted
    wanted = wanted.model_copy(
        update={"max_replicas": max(current.max_replicas, wanted.min_replicas), "metric": current.metric}
    )
    if wanted == current:
        return f"the autoscaler of {current.ref} stays at {current.describe()}"
    monthly = context.replica_monthly_usd
    change = wanted.min_replicas - current.min_replicas
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title=f"Retune the autoscaler of {current.ref.name}: {wanted.describe()}",
        reasoning=(
            f"The autoscaler owns the replica count of {current.ref} ({current.describe()}); the forecast "
            f"needs {wanted.min_replicas} replicas by the time a new pod could serve, and one replica meets "
            f"the SLO up to {context.slo_concurrency:.1f} requests in flight ({context.sources}), so its "
            f"floor and target move instead of the Deployment's count."
        ),
        estimated_monthly_savings_usd=round(-change * monthly, 2),
        current_monthly_cost_usd=current.min_replicas * monthly,
        projected_monthly_cost_usd=wanted.min_replicas * monthly,
        confidence=0.6,
        risk_level=RiskLevel.LOW,
        steps=[apply_autoscaler_step(wanted, current)],
        evidence={
            "min_replicas_from": float(current.min_replicas),
            "min_replicas_to": float(wanted.min_replicas),
            "target_running_per_pod": wanted.target_per_pod,
        },
    )
