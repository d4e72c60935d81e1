"""The Performance agent's HorizontalPodAutoscaler on vLLM's running requests: offered where enabled,
sized from the capacity layer and the forecast, retuned once it owns the count, and another shape left
alone."""

from functools import cache

import pytest

from agents.performance.autoscaler import (
    analyze_reactive_autoscaler,
    autoscaler_for,
    expected_replicas,
)
from agents.performance.forecast import ForecastMethod, ForecastSettings
from agents.performance.scaling import ScalingSettings
from agents.performance.strategies import analyze_performance
from optiinfra.domain.enums import StepAction
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.kube import IN_FLIGHT_METRIC, PodsMetricAutoscaler
from optiinfra.domain.recommendation import Proposal
from tests.agents.performance.snapshots import context_of, kube_snapshot

QUICK_FORECAST = ForecastSettings(methods=(ForecastMethod.SEASONAL_NAIVE, ForecastMethod.HOLT_WINTERS))
"""Prophet's fit is the slow part of a scan and not what these tests are about."""
SETTINGS = ScalingSettings(reactive_autoscaler=True, forecast=QUICK_FORECAST)


@cache
def _over_provisioned() -> WorkloadSnapshot:
    """Ten replicas for a load that peaks at a third of them (built once: two weeks of windows)."""
    return kube_snapshot(replicas=10, mean_rps=6, amplitude_rps=3)


def test_the_autoscaler_holds_running_requests_below_what_meets_the_slo_above_the_forecast_floor() -> None:
    snapshot = _over_provisioned()
    context = context_of(snapshot)

    wanted = autoscaler_for(snapshot, context, SETTINGS)

    assert isinstance(wanted, PodsMetricAutoscaler), wanted
    assert wanted.metric == IN_FLIGHT_METRIC
    assert wanted.target_per_pod == pytest.approx(0.8 * context.slo_concurrency, rel=1e-3)
    assert 1 <= wanted.min_replicas < 10 <= wanted.max_replicas
    # A quiet day runs fewer replicas on average than the ten held for the peak.
    assert wanted.min_replicas <= expected_replicas(snapshot, context, wanted) < 10


def test_the_offer_is_one_step_undone_by_removing_the_autoscaler() -> None:
    snapshot = _over_provisioned()
    proposal = analyze_reactive_autoscaler(snapshot, context_of(snapshot), SETTINGS)

    assert isinstance(proposal, Proposal), proposal
    (step,) = proposal.steps
    assert step.action is StepAction.APPLY_AUTOSCALER
    assert step.compensation is not None and step.compensation.action is StepAction.REMOVE_AUTOSCALER
    wanted = PodsMetricAutoscaler.model_validate_json(step.params["autoscaler"])
    assert proposal.projected_monthly_cost_usd == pytest.approx(
        float(proposal.evidence["expected_mean_replicas"]) * proposal.current_monthly_cost_usd / 10, rel=0.01
    )
    assert proposal.estimated_monthly_savings_usd == pytest.approx(
        proposal.current_monthly_cost_usd - proposal.projected_monthly_cost_usd, abs=0.05
    )
    assert wanted.describe() in proposal.title


def test_the_scan_offers_it_only_where_enabled() -> None:
    snapshot = _over_provisioned()

    def actions(settings: ScalingSettings) -> set[StepAction]:
        found = analyze_performance(snapshot, settings)
        return {step.action for proposal in found.proposals for step in proposal.steps}

    assert StepAction.APPLY_AUTOSCALER not in actions(ScalingSettings(forecast=QUICK_FORECAST))
    assert StepAction.APPLY_AUTOSCALER in actions(SETTINGS)


def test_once_it_owns_the_count_the_scan_retunes_its_floor_instead_of_scaling() -> None:
    snapshot = _over_provisioned()
    deployment = snapshot.deployment
    assert deployment is not None
    owning = PodsMetricAutoscaler(ref=deployment.ref, min_replicas=9, max_replicas=40, target_per_pod=3.0)
    owned = snapshot.model_copy(update={"deployment": deployment.model_copy(update={"autoscaler": owning})})

    found = analyze_performance(owned, SETTINGS)

    actions = [step.action for proposal in found.proposals for step in proposal.steps]
    assert StepAction.SCALE_DEPLOYMENT not in actions and StepAction.DRAIN_PODS not in actions
    (retune,) = [p for p in found.proposals if p.steps[0].action is StepAction.APPLY_AUTOSCALER]
    step = retune.steps[0]
    new = PodsMetricAutoscaler.model_validate_json(step.params["autoscaler"])
    assert new.min_replicas < 9 and new.max_replicas == 40
    assert step.compensation is not None
    assert PodsMetricAutoscaler.model_validate_json(step.compensation.params["autoscaler"]) == owning


def test_an_autoscaler_of_another_shape_keeps_the_agent_off_the_count() -> None:
    snapshot = _over_provisioned()
    deployment = snapshot.deployment
    assert deployment is not None
    foreign = deployment.model_copy(update={"foreign_autoscaler": "an autoscaler on Resource"})

    found = analyze_performance(snapshot.model_copy(update={"deployment": foreign}), SETTINGS)

    actions = {step.action for proposal in found.proposals for step in proposal.steps}
    assert not actions & {StepAction.SCALE_DEPLOYMENT, StepAction.APPLY_AUTOSCALER}
    assert any("an autoscaler on Resource owns the replica count" in note for note in found.notes)
