"""A customer's GPU budget, held against every proposal: a change that would take the customer's whole
fleet above its GPU cap or its monthly-cost cap is held back, with the figures; one that lowers them never
is, even when the fleet is already over (it moves toward the cap).

A proposal's GPU change is read from its steps, finalize steps included (the fleet it leaves): instances
launched, started, stopped, terminated or retyped, a spot group's capacity, a scaling group's desired
count, a Deployment's replicas. Its cost change is the proposal's own projected minus current cost."""

from collections.abc import Iterable, Mapping

from optiinfra.domain.enums import PurchaseOption, StepAction
from optiinfra.domain.fleet import (
    CustomerFleetUsage,
    GpuBudget,
    Instance,
    InstanceType,
    SpotGroupSpec,
    WorkloadSnapshot,
)
from optiinfra.domain.recommendation import ExecutionStep, Proposal

HOURS_PER_MONTH = 730
RUNNING_STATES = frozenset({"pending", "running"})


def fleet_usage(instances: Iterable[Instance], types: Mapping[str, InstanceType]) -> CustomerFleetUsage:
    """The running instances' GPUs and monthly cost (a spot instance at its spot price when known; a type
    the catalog does not know counts as an instance with no GPU and no price)."""
    running = [i for i in instances if i.state in RUNNING_STATES]
    gpus = sum(types[i.instance_type].gpu_count for i in running if i.instance_type in types)
    hourly = sum(_hourly(types[i.instance_type], i.lifecycle) for i in running if i.instance_type in types)
    return CustomerFleetUsage(instances=len(running), gpus=gpus, monthly_usd=hourly * HOURS_PER_MONTH)


def _hourly(kind: InstanceType, lifecycle: PurchaseOption) -> float:
    if lifecycle is PurchaseOption.SPOT and kind.spot_hourly_usd is not None:
        return kind.spot_hourly_usd
    return kind.on_demand_hourly_usd


def gpu_change(proposal: Proposal, snapshot: WorkloadSnapshot) -> int:
    """GPUs the customer's fleet has after the proposal minus before."""
    return sum(_step_gpus(step, snapshot) for step in proposal.steps)


def _step_gpus(step: ExecutionStep, snapshot: WorkloadSnapshot) -> int:
    params = step.params
    match step.action:
        case StepAction.LAUNCH_REPLACEMENT:
            return _gpus_of_type(snapshot, params.get("instance_type"))
        case StepAction.START_INSTANCE:
            return _gpus_of_instance(snapshot, step.target)
        case StepAction.STOP_INSTANCE | StepAction.TERMINATE_INSTANCE:
            return -_gpus_of_instance(snapshot, step.target)
        case StepAction.MODIFY_INSTANCE_TYPE:
            return _gpus_of_type(snapshot, params.get("instance_type")) - _gpus_of_instance(
                snapshot, step.target
            )
        case StepAction.CREATE_SPOT_GROUP:
            spec = SpotGroupSpec.model_validate_json(params["group"])
            return spec.desired_capacity * _gpus_of_type(snapshot, spec.instance_types[0])
        case StepAction.UPDATE_SCALING_GROUP if "desired_capacity" in params and snapshot.scaling_group:
            group = snapshot.scaling_group
            per_instance = max((_gpus_of_instance(snapshot, i) for i in group.instance_ids), default=0)
            return (int(params["desired_capacity"]) - group.desired_capacity) * per_instance
        case StepAction.SCALE_DEPLOYMENT if "previous_replicas" in params and snapshot.deployment:
            change = int(params["replicas"]) - int(params["previous_replicas"])
            return change * snapshot.deployment.gpus_per_replica
    return 0


def _gpus_of_type(snapshot: WorkloadSnapshot, name: str | None) -> int:
    known = {t.name: t for t in snapshot.candidate_types} | dict(snapshot.instance_types)
    return known[name].gpu_count if name in known else 0


def _gpus_of_instance(snapshot: WorkloadSnapshot, instance_id: str) -> int:
    instance = next((i for i in snapshot.instances if i.instance_id == instance_id), None)
    return 0 if instance is None else _gpus_of_type(snapshot, instance.instance_type)


def budget_refusal(proposal: Proposal, snapshot: WorkloadSnapshot) -> str | None:
    """Why the proposal is held back by the customer's budget, or None when it fits (or lowers usage)."""
    budget: GpuBudget = snapshot.customer.budget
    if budget.max_gpus is None and budget.max_monthly_usd is None:
        return None
    gpus = gpu_change(proposal, snapshot)
    cost = proposal.projected_monthly_cost_usd - proposal.current_monthly_cost_usd
    if gpus <= 0 and cost <= 0:
        return None
    usage = snapshot.customer_fleet
    customer = snapshot.customer.customer_id
    if usage is None:
        return f"it adds to {customer}'s fleet, which has a budget, and the fleet's usage could not be read"
    if budget.max_gpus is not None and gpus > 0 and usage.gpus + gpus > budget.max_gpus:
        return (
            f"it would take {customer} from {usage.gpus} to {usage.gpus + gpus} GPUs, above its budget of "
            f"{budget.max_gpus}"
        )
    if budget.max_monthly_usd is not None and cost > 0 and usage.monthly_usd + cost > budget.max_monthly_usd:
        return (
            f"it would take {customer} from ${usage.monthly_usd:,.0f} to ${usage.monthly_usd + cost:,.0f} a "
            f"month, above its budget of ${budget.max_monthly_usd:,.0f}"
        )
    return None


def within_budget(proposals: list[Proposal], snapshot: WorkloadSnapshot) -> tuple[list[Proposal], list[str]]:
    """The proposals the budget allows, in their order, and a note for each one held back."""
    kept: list[Proposal] = []
    notes: list[str] = []
    for proposal in proposals:
        why = budget_refusal(proposal, snapshot)
        if why is None:
            kept.append(proposal)
        else:
            notes.append(f"held back by the GPU budget: {proposal.title}: {why}")
    return kept, notes
