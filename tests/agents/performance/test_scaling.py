import random

import pytest

from agents.performance.scaling import (
    ScalingSettings,
    analyze_replica_scaling,
    measured_correction,
    pods_to_drain,
)
from agents.performance.strategies import analyze_performance
from optiinfra.domain.enums import RecommendationType, RiskLevel, StepAction
from tests.agents.performance.snapshots import context_of, kube_snapshot

FAST = ScalingSettings()


def test_an_over_provisioned_deployment_is_scaled_down_draining_the_least_loaded_pods_first() -> None:
    loads = {f"assistant-abc-{i}": 2.0 for i in range(10)} | {"assistant-abc-3": 0.1, "assistant-abc-7": 0.2}
    snapshot = kube_snapshot(replicas=10, mean_rps=6, amplitude_rps=3, loads=loads)
    proposal = analyze_replica_scaling(snapshot, context_of(snapshot), None, FAST)
    assert not isinstance(proposal, str), proposal
    assert proposal.type is RecommendationType.REPLICA_SCALING
    assert proposal.risk_level is RiskLevel.MEDIUM
    drain, scale = proposal.steps
    assert drain.action is StepAction.DRAIN_PODS and scale.action is StepAction.SCALE_DEPLOYMENT
    target = int(scale.params["replicas"])
    assert 1 <= target < 10
    drained = drain.params["pods"].split(",")
    assert len(drained) == 10 - target
    assert drained[:2] == ["assistant-abc-3", "assistant-abc-7"]
    assert drain.compensation is not None and drain.compensation.action is StepAction.RESTORE_PODS
    assert scale.compensation is not None and scale.compensation.params["replicas"] == "10"
    assert proposal.estimated_monthly_savings_usd > 0
    assert proposal.monthly_cost_increase_usd == 0


def test_an_under_provisioned_deployment_is_scaled_up_ahead_and_says_what_it_costs() -> None:
    snapshot = kube_snapshot(replicas=2, mean_rps=20, amplitude_rps=5)
    proposal = analyze_replica_scaling(snapshot, context_of(snapshot), None, FAST)
    assert not isinstance(proposal, str), proposal
    (scale,) = proposal.steps
    assert scale.action is StepAction.SCALE_DEPLOYMENT and int(scale.params["replicas"]) > 2
    assert proposal.risk_level is RiskLevel.LOW
    increase = proposal.monthly_cost_increase_usd
    assert increase > 0 and proposal.estimated_monthly_savings_usd == pytest.approx(-increase)
    assert proposal.evidence["cost_increase_usd_month"] == pytest.approx(increase, abs=0.01)
    assert f"${increase:,.0f}/month" in proposal.reasoning


def test_replicas_slower_than_modelled_raise_the_correction_and_the_replica_count() -> None:
    modelled = kube_snapshot(replicas=6, mean_rps=12, amplitude_rps=4)
    slow = kube_snapshot(replicas=6, mean_rps=12, amplitude_rps=4, slowdown=1.6)
    assert measured_correction(context_of(modelled), modelled.windows, 6) == pytest.approx(1.0, abs=0.05)
    assert measured_correction(context_of(slow), slow.windows, 6) > 1.2
    fast = analyze_replica_scaling(modelled, context_of(modelled), None, FAST)
    slower = analyze_replica_scaling(slow, context_of(slow), None, FAST)

    def replicas(found: object) -> int:
        if isinstance(found, str):
            return 6
        return int(found.steps[-1].params["replicas"])  # type: ignore[attr-defined]

    assert replicas(slower) > replicas(fast)


def test_the_correction_compares_exact_means_not_bucket_interpolated_p95s() -> None:
    """A p95 read off vLLM's buckets lands anywhere in a bucket as wide as the latency itself; replicas
    that run as modelled must not pass for slower ones because of it. Without means, p95s are compared."""
    modelled = kube_snapshot(replicas=6, mean_rps=12, amplitude_rps=4)
    context = context_of(modelled)
    read_off_buckets = [
        w.model_copy(update={"ttft_p95": w.ttft_p95 * 1.3, "itl_p95": w.itl_p95 * 1.4})  # type: ignore[operator]
        for w in modelled.windows
    ]
    assert measured_correction(context, read_off_buckets, 6) == pytest.approx(1.0, abs=0.05)
    without_means = [w.model_copy(update={"ttft_mean": None, "itl_mean": None}) for w in read_off_buckets]
    assert measured_correction(context, without_means, 6) > 1.2


def test_a_critical_workload_keeps_its_floor() -> None:
    snapshot = kube_snapshot(replicas=4, mean_rps=0.2, amplitude_rps=0.1, critical=True)
    proposal = analyze_replica_scaling(snapshot, context_of(snapshot), None, FAST)
    assert not isinstance(proposal, str)
    assert proposal.steps[-1].params["replicas"] == "2"


def test_not_ready_pods_are_removed_before_serving_ones() -> None:
    snapshot = kube_snapshot(replicas=3, mean_rps=1, amplitude_rps=0.5)
    assert snapshot.deployment is not None
    pods = snapshot.deployment.pods
    pods[1] = pods[1].model_copy(update={"ready": False})
    assert pods_to_drain(pods, 1, {})[0] == pods[1].name


def test_the_agent_reports_compliance_and_ranks_its_proposals() -> None:
    snapshot = kube_snapshot(
        replicas=10, mean_rps=6, amplitude_rps=3, args=["--max-num-seqs", "32"], slo_itl_p95_s=0.6
    )
    result = analyze_performance(snapshot)
    assert any(note.startswith("SLO over the last day:") for note in result.notes)
    types = [p.type for p in result.proposals]
    assert RecommendationType.REPLICA_SCALING in types and RecommendationType.SERVING_TUNING in types
    savings = [p.estimated_monthly_savings_usd for p in result.proposals]
    assert savings == sorted(savings, reverse=True)


def test_without_a_deployment_or_an_slo_the_agent_only_explains() -> None:
    snapshot = kube_snapshot(replicas=3, mean_rps=1, amplitude_rps=0.5)
    no_slo = snapshot.model_copy(
        update={"workload": snapshot.workload.model_copy(update={"slo_ttft_p95_s": None})}
    )
    assert analyze_performance(no_slo).proposals == []
    assert "no latency objective" in analyze_performance(no_slo).notes[0]
    off_kube = snapshot.model_copy(update={"deployment": None})
    result = analyze_performance(off_kube)
    assert result.proposals == [] and any("Kubernetes Deployment" in n for n in result.notes)


def test_the_count_held_until_the_next_scan_is_sized_on_the_forecasts_upper_bound() -> None:
    """With a noisy history the forecast's 90% band is wide: sizing on its upper bound carries more
    replicas than sizing on its mean, and the reasoning says which it used."""
    snapshot = kube_snapshot(replicas=6, mean_rps=12, amplitude_rps=4)
    assert snapshot.request_rate is not None
    rng = random.Random(3)
    noisy = snapshot.request_rate.model_copy(
        update={
            "values": [
                None if v is None else v * rng.lognormvariate(0.0, 0.25) for v in snapshot.request_rate.values
            ]
        }
    )
    snapshot = snapshot.model_copy(update={"request_rate": noisy})
    context = context_of(snapshot)
    on_mean = analyze_replica_scaling(snapshot, context, None, ScalingSettings(size_on_upper_bound=False))
    on_upper = analyze_replica_scaling(snapshot, context, None, ScalingSettings())
    assert not isinstance(on_upper, str), on_upper
    assert "upper prediction bound" in on_upper.reasoning
    upper_target = int(on_upper.evidence["target_replicas"])
    mean_target = 6 if isinstance(on_mean, str) else int(on_mean.evidence["target_replicas"])
    assert upper_target > mean_target
    assert on_upper.evidence["forecast_peak_rps"] > (
        0.0 if isinstance(on_mean, str) else float(on_mean.evidence["forecast_peak_rps"])
    )
