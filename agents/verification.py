"""What the fleet must look like once a recommendation's apply steps ran: folded from the steps in
order, because a resize stops, changes and restarts the same instance."""

from pydantic import BaseModel

from optiinfra.domain.enums import PurchaseOption, StepAction, StepPhase
from optiinfra.domain.fleet import Instance
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


def expected_end_state(steps: list[ExecutionStep]) -> list[ExpectedInstance]:
    expected: dict[str, ExpectedInstance] = {}
    for step in steps:
        if step.phase is not StepPhase.APPLY:
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
