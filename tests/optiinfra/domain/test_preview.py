"""A recommendation's preview: each step's target now and after, whether it still fits, its undo."""

import json

from agents.kube_steps import scale_deployment_step, set_vllm_args_step
from optiinfra.domain.enums import StepAction, StepPhase
from optiinfra.domain.kube import DeploymentRef, DeploymentState
from optiinfra.domain.preflight import DeploymentReading, InstanceReading, ObjectReading
from optiinfra.domain.preview import NOT_READ, preview
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep

REF = "serving/chat"


def _deployment(args: list[str]) -> DeploymentState:
    return DeploymentState(
        ref=DeploymentRef(namespace="serving", name="chat"), replicas=4, container="vllm", args=args
    )


def test_kubernetes_steps_show_replicas_and_args_before_and_after() -> None:
    steps = [
        scale_deployment_step(REF, target=3, current=4),
        set_vllm_args_step(
            _deployment(["--max-num-seqs", "64"]), ["--max-num-seqs", "128"], "Raise the batch"
        ),
    ]
    reading = ObjectReading(deployment=DeploymentReading(ref=REF, replicas=4, args=["--max-num-seqs", "64"]))
    shown = preview("rec-1", steps, reading)
    scale, args = shown.steps
    assert (scale.now, scale.after, scale.still_fits) == ("4 replicas", "3 replicas", True)
    assert scale.compensation is not None and scale.compensation.params == {"replicas": "4"}
    assert (args.now, args.after) == ("--max-num-seqs 64", "--max-num-seqs 128")
    assert args.compensation is not None and json.loads(args.compensation.params["args"]) == [
        "--max-num-seqs",
        "64",
    ]
    assert not shown.superseded


def test_a_step_whose_target_changed_since_is_shown_as_no_longer_fitting() -> None:
    reading = ObjectReading(deployment=DeploymentReading(ref=REF, replicas=6, args=[]))
    shown = preview("rec-1", [scale_deployment_step(REF, target=3, current=4)], reading)
    (scale,) = shown.steps
    assert scale.now == "6 replicas"
    assert not scale.still_fits and scale.problem is not None and "computed for 4" in scale.problem
    assert shown.superseded


def test_instance_steps_show_type_and_state() -> None:
    retype = ExecutionStep(
        step_id="retype-1",
        action=StepAction.MODIFY_INSTANCE_TYPE,
        target="i-1",
        params={"instance_type": "g6.xlarge"},
        description="Retype i-1",
        compensation=CompensationStep(
            action=StepAction.MODIFY_INSTANCE_TYPE,
            target="i-1",
            params={"instance_type": "g5.2xlarge"},
            description="Back",
        ),
    )
    launch = ExecutionStep(
        step_id="launch-1",
        action=StepAction.LAUNCH_REPLACEMENT,
        target="i-2",
        params={"instance_type": "g6.xlarge", "lifecycle": "spot"},
        description="Launch a spot replacement",
    )
    stop = ExecutionStep(
        step_id="stop-1", action=StepAction.STOP_INSTANCE, target="i-3", description="Stop i-3"
    )
    reading = ObjectReading(
        instances={
            "i-1": InstanceReading(instance_type="g5.2xlarge", state="running"),
            "i-3": InstanceReading(instance_type="g5.xlarge", state="stopped"),
        }
    )
    shown = preview("rec-2", [retype, launch, stop], reading)
    by_id = {step.step_id: step for step in shown.steps}
    assert (by_id["retype-1"].now, by_id["retype-1"].after) == (
        "g5.2xlarge, running",
        "g6.xlarge, stopped until started",
    )
    assert by_id["launch-1"].after == "a new spot g6.xlarge, running"
    assert (by_id["stop-1"].now, by_id["stop-1"].still_fits) == ("g5.xlarge, stopped", False)
    assert shown.superseded


def test_steps_not_read_live_are_shown_as_planned_and_finalize_steps_are_not_judged() -> None:
    group = ExecutionStep(
        step_id="group",
        phase=StepPhase.FINALIZE,
        action=StepAction.UPDATE_SCALING_GROUP,
        target="asg-chat",
        params={"min_size": "2", "max_size": "8"},
        description="Widen the group",
    )
    (shown,) = preview("rec-3", [group], ObjectReading()).steps
    assert shown.now == NOT_READ
    assert shown.after == "max_size = 8; min_size = 2"
    assert shown.still_fits
