from datetime import timedelta

import pytest

from agents.cost.commitments import CommitmentPolicy, cheapest_allowed_offer
from agents.cost.reserved import ReservedCapacityParams, analyze_reserved_capacity, steady_baselines
from agents.cost.strategies import analyze_cost
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import PurchaseOption, RecommendationType, RiskLevel, StepAction
from optiinfra.domain.fleet import ActiveReservation, UsageHour, WorkloadSnapshot
from optiinfra.domain.recommendation import Proposal
from tests.agents.snapshots import NOW, REGION, snapshot


def usage(
    days: int, steady: int, daytime_extra: int = 0, instance_type: str = "g6.xlarge"
) -> list[UsageHour]:
    """`steady` instances every hour, plus `daytime_extra` during 08-20 UTC."""
    rows = []
    for h in range(days * 24, 0, -1):
        hour = NOW - timedelta(hours=h)
        running = steady + (daytime_extra if 8 <= hour.hour < 20 else 0)
        rows.append(
            UsageHour(
                hour=hour, instance_type=instance_type, lifecycle=PurchaseOption.ON_DEMAND, instances=running
            )
        )
    return rows


def steady_snapshot(days: int, steady: int = 2, extra: int = 0) -> WorkloadSnapshot:
    """A well-sized, stateful workload (nothing else to do) with `days` of usage history."""
    base = snapshot(
        instance_type="g6.xlarge", count=steady, gpu=75, gpu_memory=90, cpu=60, memory=70, stateless=False
    )
    return base.model_copy(update={"usage": usage(days, steady, extra)})


def test_baseline_is_what_runs_in_almost_every_hour() -> None:
    found = steady_baselines(usage(40, steady=3, daytime_extra=2), quantile=0.05)
    assert [(b.instance_type, b.instances) for b in found] == [("g6.xlarge", 3)]
    assert found[0].history_days == pytest.approx(40)
    assert found[0].hours_at_or_above == 1.0


def test_gaps_in_the_history_count_as_hours_without_instances() -> None:
    rows = usage(40, steady=2)
    half = rows[len(rows) // 2 :]
    spread = [*rows[:24], *half]  # a day, then a long gap, then the second half
    found = steady_baselines(spread, quantile=0.05)
    assert found == []


def test_steady_baseline_is_reserved_with_the_cheapest_allowed_offer() -> None:
    found = analyze_reserved_capacity(steady_snapshot(days=60, steady=2, extra=1))
    assert isinstance(found, Proposal)
    assert found.type is RecommendationType.RESERVED_CAPACITY
    assert found.risk_level is RiskLevel.HIGH
    it = PriceCatalog.load_default().get("g6.xlarge", REGION)
    offer = cheapest_allowed_offer(it, CommitmentPolicy())
    assert offer is not None
    assert found.estimated_monthly_savings_usd == pytest.approx(
        2 * (it.on_demand_hourly_usd - offer.effective_hourly_usd) * 730, abs=0.01
    )
    [step] = found.steps
    assert step.action is StepAction.PURCHASE_RESERVED_INSTANCES
    assert step.compensation is None
    assert step.params["count"] == "2" and step.params["instance_type"] == "g6.xlarge"
    assert step.params["offering_type"] == "All Upfront" and step.params["term_years"] == "1"
    assert float(step.params["max_upfront_usd"]) == pytest.approx(offer.upfront_usd * 2 * 1.01, abs=0.01)
    assert "breaks even after" in found.reasoning and "Savings Plan" in found.reasoning


def test_too_little_history_defers_the_commitment() -> None:
    found = analyze_reserved_capacity(steady_snapshot(days=20))
    assert isinstance(found, str) and "20 days" in found and "30 needed" in found


def test_what_is_already_reserved_is_not_bought_again() -> None:
    base = steady_snapshot(days=60, steady=3)
    one = base.model_copy(
        update={
            "reservations": [
                ActiveReservation(reservation_id="r-1", instance_type="g6.xlarge", instance_count=1)
            ]
        }
    )
    found = analyze_reserved_capacity(one)
    assert isinstance(found, Proposal) and found.steps[0].params["count"] == "2"
    all_three = base.model_copy(
        update={
            "reservations": [
                ActiveReservation(reservation_id="r-1", instance_type="g6.xlarge", instance_count=3)
            ]
        }
    )
    assert isinstance(analyze_reserved_capacity(all_three), str)


def test_no_upfront_policy_changes_the_offer() -> None:
    params = ReservedCapacityParams(policy=CommitmentPolicy(payments=(CommitmentPolicy().payments[0],)))
    found = analyze_reserved_capacity(steady_snapshot(days=60), params)
    assert isinstance(found, Proposal)
    assert found.steps[0].params["offering_type"] == "No Upfront"
    assert found.evidence["break_even_months"] == 0.0


def test_reservation_waits_while_other_strategies_would_still_change_the_fleet() -> None:
    oversized = snapshot(instance_type="g5.8xlarge", count=3, gpu=50, gpu_memory=70, cpu=6, memory=9)
    oversized = oversized.model_copy(update={"usage": usage(60, 3, instance_type="g5.8xlarge")})
    result = analyze_cost(oversized)
    assert RecommendationType.RESERVED_CAPACITY not in {p.type for p in result.proposals}
    assert any("deferred" in note for note in result.notes)
    settled = analyze_cost(steady_snapshot(days=60))
    assert [p.type for p in settled.proposals] == [RecommendationType.RESERVED_CAPACITY]
