"""A recommendation's preflight: each apply step's expectation of its target against a fresh reading."""

from agents.kube_steps import scale_deployment_step, set_vllm_args_step
from optiinfra.domain.enums import StepAction, StepPhase
from optiinfra.domain.kube import DeploymentRef, DeploymentState
from optiinfra.domain.preflight import DeploymentReading, InstanceReading, ObjectReading, unmet_preconditions
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep

ARGS = ["--model", "m", "--max-num-seqs", "64"]
DEPLOYMENT = DeploymentState(
    ref=DeploymentRef(namespace="llm", name="chat"), replicas=8, container="vllm", args=ARGS
)


def _reading(replicas: int = 8, args: list[str] = ARGS, **instances: InstanceReading) -> ObjectReading:
    return ObjectReading(
        instances=dict(instances), deployment=DeploymentReading(ref="llm/chat", replicas=replicas, args=args)
    )


def test_a_scale_computed_for_eight_replicas_does_not_run_on_five() -> None:
    steps = [scale_deployment_step("llm/chat", 6, 8)]
    assert unmet_preconditions(steps, _reading()) == []
    [problem] = unmet_preconditions(steps, _reading(replicas=5))
    assert "has 5 replicas, the recommendation was computed for 8" in problem


def test_arguments_roll_only_from_what_was_read() -> None:
    steps = [set_vllm_args_step(DEPLOYMENT, [*ARGS, "--max-model-len", "8192"], "roll")]
    assert unmet_preconditions(steps, _reading()) == []
    [problem] = unmet_preconditions(steps, _reading(args=[*ARGS, "--enforce-eager"]))
    assert "vLLM arguments changed" in problem
    assert "is gone" in unmet_preconditions(steps, ObjectReading())[0]


def test_instances_must_still_be_the_running_ones_read() -> None:
    stop = ExecutionStep(step_id="stop", action=StepAction.STOP_INSTANCE, target="i-1", description="stop")
    retype = ExecutionStep(
        step_id="retype",
        action=StepAction.MODIFY_INSTANCE_TYPE,
        target="i-1",
        params={"instance_type": "g6.xlarge"},
        description="retype",
        compensation=CompensationStep(
            action=StepAction.MODIFY_INSTANCE_TYPE,
            target="i-1",
            params={"instance_type": "g6e.xlarge"},
            description="back",
        ),
    )
    running = InstanceReading(instance_type="g6e.xlarge", state="running")
    assert unmet_preconditions([stop, retype], _reading(**{"i-1": running})) == []
    stopped = InstanceReading(instance_type="g6e.xlarge", state="stopped")
    assert unmet_preconditions([stop, retype], _reading(**{"i-1": stopped})) == [
        "stop: instance i-1 is stopped"
    ]
    retyped = InstanceReading(instance_type="g6.xlarge", state="running")
    [problem] = unmet_preconditions([stop, retype], _reading(**{"i-1": retyped}))
    assert problem.startswith("retype: instance i-1 is a g6.xlarge now")
    assert unmet_preconditions([stop], _reading()) == ["stop: instance i-1 is no longer part of the workload"]


def test_finalize_steps_are_not_preconditions() -> None:
    terminate = ExecutionStep(
        step_id="terminate",
        action=StepAction.TERMINATE_INSTANCE,
        target="i-9",
        description="terminate the old one",
        phase=StepPhase.FINALIZE,
    )
    assert unmet_preconditions([terminate], _reading()) == []
