"""What the fleet must look like once a recommendation's apply steps ran: folded from the steps in
order, because a resize stops, changes and restarts the same instance."""

from pydantic import BaseModel, Field

from optiinfra.domain.enums import PurchaseOption, StepAction, StepPhase
from optiinfra.domain.fleet import Instance, ScalingGroupState, ScalingPolicy, SpotGroupSpec
from optiinfra.domain.recommendation import ExecutionStep


class ExpectedInstance(BaseModel):
    """`launched_by` set means: the instance launched by that step, found by its idempotency key."""

    instance_id: str | None = None
    launched_by: str | None = None
    state: str | None = None
    instance_type: str | None = None
    lifecycle: PurchaseOption | None = None

    @property
    def label(self) -> str:
        return self.instance_id or f"instance launched by step {self.launched_by}"


SCALING_GROUP_ACTIONS = frozenset(
    {
        StepAction.UPDATE_SCALING_GROUP,
        StepAction.PUT_SCALING_POLICY,
        StepAction.DELETE_SCALING_POLICY,
        StepAction.CREATE_SPOT_GROUP,
    }
)
"""Steps that act on an Auto Scaling group (their target), not on an instance."""


NOT_ON_INSTANCES = {*SCALING_GROUP_ACTIONS, StepAction.PURCHASE_RESERVED_INSTANCES}
"""Actions whose target is not an instance: they are verified by their own expectations."""


def expected_end_state(steps: list[ExecutionStep]) -> list[ExpectedInstance]:
    expected: dict[str, ExpectedInstance] = {}
    for step in steps:
        if step.phase is not StepPhase.APPLY or step.action in NOT_ON_INSTANCES:
            continue
        if step.action is StepAction.LAUNCH_REPLACEMENT:
            expected[f"launch:{step.step_id}"] = ExpectedInstance(
                launched_by=step.step_id,
                state="running",
                instance_type=step.params.get("instance_type"),
                lifecycle=PurchaseOption(step.params.get("lifecycle", PurchaseOption.ON_DEMAND.value)),
            )
            continue
        current = expected.setdefault(step.target, ExpectedInstance(instance_id=step.target))
        if step.action is StepAction.STOP_INSTANCE:
            current.state = "stopped"
        elif step.action is StepAction.START_INSTANCE:
            current.state = "running"
        elif step.action is StepAction.MODIFY_INSTANCE_TYPE:
            current.instance_type = step.params["instance_type"]
        elif step.action is StepAction.TERMINATE_INSTANCE:
            current.state = "terminated"
    return list(expected.values())


class ExpectedReservation(BaseModel):
    """A reservation the step `purchased_by` must have bought: `instance_count` of `instance_type`."""

    purchased_by: str
    instance_type: str
    instance_count: int


def expected_reservations(steps: list[ExecutionStep]) -> list[ExpectedReservation]:
    return [
        ExpectedReservation(
            purchased_by=step.step_id,
            instance_type=step.params["instance_type"],
            instance_count=int(step.params["count"]),
        )
        for step in steps
        if step.phase is StepPhase.APPLY and step.action is StepAction.PURCHASE_RESERVED_INSTANCES
    ]


def reservation_mismatches(
    expected: ExpectedReservation, observed_type: str | None, observed_count: int, observed_state: str
) -> list[str]:
    """Differences between the reservation a step should have bought and what the cloud lists (type None:
    nothing found)."""
    label = f"reservation bought by step {expected.purchased_by}"
    if observed_type is None:
        return [f"{label} does not exist"]
    problems: list[str] = []
    if observed_type != expected.instance_type:
        problems.append(f"{label}: instance type is {observed_type}, expected {expected.instance_type}")
    if observed_count != expected.instance_count:
        problems.append(f"{label}: covers {observed_count} instances, expected {expected.instance_count}")
    if observed_state not in ("active", "payment-pending"):
        problems.append(f"{label}: state is {observed_state}")
    return problems


def mismatches(expected: ExpectedInstance, observed: Instance | None) -> list[str]:
    """Human-readable differences between what should be and what is."""
    if observed is None:
        return [f"{expected.label} does not exist"]
    problems: list[str] = []
    checks = (
        ("state", expected.state, observed.state),
        ("instance type", expected.instance_type, observed.instance_type),
        ("lifecycle", expected.lifecycle, observed.lifecycle),
    )
    for what, want, have in checks:
        if want is not None and want != have:
            problems.append(f"{observed.instance_id}: {what} is {have}, expected {want}")
    return problems


class ExpectedScalingGroup(BaseModel):
    """What an Auto Scaling group must look like once the apply steps ran: the size limits and cooldown
    they last set, and each policy they put (None: a policy they deleted)."""

    group_name: str
    min_size: int | None = None
    max_size: int | None = None
    desired_capacity: int | None = None
    default_cooldown: int | None = None
    on_demand_base_capacity: int | None = None
    policies: dict[str, ScalingPolicy | None] = Field(default_factory=dict)


def expected_scaling_groups(steps: list[ExecutionStep]) -> list[ExpectedScalingGroup]:
    expected: dict[str, ExpectedScalingGroup] = {}
    for step in steps:
        if step.phase is not StepPhase.APPLY or step.action not in SCALING_GROUP_ACTIONS:
            continue
        group = expected.setdefault(step.target, ExpectedScalingGroup(group_name=step.target))
        params = step.params
        if step.action is StepAction.UPDATE_SCALING_GROUP:
            group.min_size = int(params["min_size"])
            group.max_size = int(params["max_size"])
            group.default_cooldown = int(params["default_cooldown"])
            if "desired_capacity" in params:
                group.desired_capacity = int(params["desired_capacity"])
        elif step.action is StepAction.CREATE_SPOT_GROUP:
            spec = SpotGroupSpec.model_validate_json(params["group"])
            group.min_size = group.max_size = group.desired_capacity = spec.desired_capacity
            group.on_demand_base_capacity = spec.on_demand_base
        elif step.action is StepAction.PUT_SCALING_POLICY:
            policy = ScalingPolicy.model_validate_json(params["policy"])
            group.policies[policy.name] = policy
        else:
            group.policies[params["policy_name"]] = None
    return list(expected.values())


def scaling_group_mismatches(expected: ExpectedScalingGroup, observed: ScalingGroupState | None) -> list[str]:
    """Human-readable differences between the group as it should be and as it is."""
    name = expected.group_name
    if observed is None:
        return [f"Auto Scaling group {name} does not exist"]
    problems: list[str] = []
    checks = (
        ("min size", expected.min_size, observed.min_size),
        ("max size", expected.max_size, observed.max_size),
        ("desired capacity", expected.desired_capacity, observed.desired_capacity),
        ("default cooldown", expected.default_cooldown, observed.default_cooldown),
        ("on-demand base", expected.on_demand_base_capacity, observed.on_demand_base_capacity),
    )
    for what, want, have in checks:
        if want is not None and want != have:
            problems.append(f"{name}: {what} is {have}, expected {want}")
    if expected.desired_capacity is not None and observed.in_service < expected.desired_capacity:
        problems.append(
            f"{name}: {observed.in_service} instances in service, expected {expected.desired_capacity}"
        )
    for policy_name, wanted in expected.policies.items():
        found = observed.policy(policy_name)
        if wanted is None:
            if found is not None or policy_name in observed.other_policies:
                problems.append(f"{name}: policy {policy_name} is still there")
        elif found is None:
            problems.append(f"{name}: policy {policy_name} is missing")
        else:
            for field in ScalingPolicy.model_fields:
                want, have = getattr(wanted, field), getattr(found, field)
                if want != have:
                    problems.append(f"{name}: policy {policy_name} {field} is {have}, expected {want}")
    return problems
