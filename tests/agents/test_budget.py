"""A customer's GPU budget holds back what would take its fleet above a cap, with the figures, and never
what lowers its usage."""

import pytest

from agents.budget import budget_refusal, fleet_usage, gpu_change, within_budget
from agents.cost.strategies import analyze_cost
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import (
    AgentKind,
    PurchaseOption,
    RecommendationType,
    RiskLevel,
    StepAction,
    StepPhase,
)
from optiinfra.domain.fleet import CustomerFleetUsage, GpuBudget, Instance, WorkloadSnapshot
from optiinfra.domain.recommendation import ExecutionStep, Proposal
from tests.agents.snapshots import REGION, snapshot

BIG = "g5.12xlarge"  # 4 GPUs, $5.672/h on demand


def _fleet(
    budget: GpuBudget, *, usage: CustomerFleetUsage | None = None, gpu_peak: float = 90.0
) -> WorkloadSnapshot:
    """Two g5.12xlarge replicas (8 GPUs) of a customer with `budget`; its whole fleet is `usage` (by default
    just these two)."""
    base = snapshot(instance_type=BIG, count=2, gpu=gpu_peak, gpu_memory=min(gpu_peak, 80.0))
    types = {t.name: t for t in PriceCatalog.load_default().types_in(REGION)}
    customer = base.customer.model_copy(update={"budget": budget})
    return base.model_copy(
        update={"customer": customer, "customer_fleet": usage or fleet_usage(base.instances, types)}
    )


def _proposal(title: str, steps: list[ExecutionStep], *, current: float, projected: float) -> Proposal:
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING if projected > current else RecommendationType.RIGHT_SIZING,
        title=title,
        reasoning="test",
        estimated_monthly_savings_usd=max(current - projected, 0.0),
        current_monthly_cost_usd=current,
        projected_monthly_cost_usd=projected,
        confidence=0.9,
        risk_level=RiskLevel.LOW,
        steps=steps,
    )


def _launch(instance_type: str) -> ExecutionStep:
    return ExecutionStep(
        step_id="launch-1",
        action=StepAction.LAUNCH_REPLACEMENT,
        target="workload",
        params={"instance_type": instance_type, "lifecycle": "on_demand"},
        description=f"Launch a {instance_type}",
    )


def test_the_fleet_counts_running_instances_gpus_and_their_price() -> None:
    types = {t.name: t for t in PriceCatalog.load_default().types_in(REGION)}

    def instance(n: int, state: str, lifecycle: PurchaseOption) -> Instance:
        return Instance(
            instance_id=f"i-{n}", instance_type=BIG, lifecycle=lifecycle, state=state, image_id="ami-1"
        )

    usage = fleet_usage(
        [
            instance(1, "running", PurchaseOption.ON_DEMAND),
            instance(2, "running", PurchaseOption.SPOT),
            instance(3, "stopped", PurchaseOption.ON_DEMAND),
        ],
        types,
    )
    assert (usage.instances, usage.gpus) == (2, 8)
    assert usage.monthly_usd == pytest.approx((5.672 + 2.137) * 730, rel=1e-6)


def test_a_change_above_the_gpu_cap_is_held_back_with_the_figures() -> None:
    fleet = _fleet(GpuBudget(max_gpus=10))
    grow = _proposal("Add a replica", [_launch(BIG)], current=8280.0, projected=12420.0)
    assert gpu_change(grow, fleet) == 4
    assert budget_refusal(grow, fleet) == "it would take acme from 8 to 12 GPUs, above its budget of 10"
    small = _proposal("Add a small replica", [_launch("g5.xlarge")], current=8280.0, projected=9014.0)
    assert budget_refusal(small, fleet) is None  # 9 GPUs fit


def test_a_change_above_the_spend_cap_is_held_back_and_one_that_lowers_usage_never_is() -> None:
    fleet = _fleet(GpuBudget(max_monthly_usd=9000.0))
    assert fleet.customer_fleet is not None and fleet.customer_fleet.monthly_usd == pytest.approx(8281.12)
    grow = _proposal("Add a small replica", [_launch("g5.xlarge")], current=8281.0, projected=9015.0)
    assert "above its budget of $9,000" in (budget_refusal(grow, fleet) or "")
    # Already far over both caps, and overprovisioned: its cheaper proposals all go through.
    over = _fleet(GpuBudget(max_gpus=2, max_monthly_usd=100.0), gpu_peak=8.0)
    cheaper = analyze_cost(over).proposals
    assert cheaper, "the overprovisioned fleet should get a cheaper proposal"
    kept, notes = within_budget(cheaper, over)
    assert kept == cheaper and notes == []


def test_retyping_and_scaling_count_their_gpus() -> None:
    fleet = _fleet(GpuBudget(max_gpus=8))
    first = fleet.instances[0].instance_id
    retype = ExecutionStep(
        step_id="retype",
        action=StepAction.MODIFY_INSTANCE_TYPE,
        target=first,
        params={"instance_type": "g5.xlarge"},
        description="Retype",
    )
    stop = ExecutionStep(
        step_id="stop",
        phase=StepPhase.FINALIZE,
        action=StepAction.STOP_INSTANCE,
        target=first,
        description="Stop",
    )
    assert gpu_change(_proposal("Retype", [retype], current=1.0, projected=1.0), fleet) == -3
    assert gpu_change(_proposal("Stop", [stop], current=1.0, projected=0.0), fleet) == -4


def test_without_a_reading_of_the_fleet_a_budget_holds_back_any_increase() -> None:
    fleet = _fleet(GpuBudget(max_gpus=100)).model_copy(update={"customer_fleet": None})
    grow = _proposal("Add a replica", [_launch(BIG)], current=8280.0, projected=12420.0)
    kept, notes = within_budget([grow], fleet)
    assert kept == []
    assert notes == [
        "held back by the GPU budget: Add a replica: it adds to acme's fleet, which has a budget, and the "
        "fleet's usage could not be read"
    ]


def test_no_budget_holds_nothing_back() -> None:
    fleet = _fleet(GpuBudget())
    grow = _proposal("Add a replica", [_launch(BIG)], current=8280.0, projected=12420.0)
    assert within_budget([grow], fleet) == ([grow], [])
