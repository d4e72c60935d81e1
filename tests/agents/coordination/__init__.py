"""Proposals for the coordination tests, shaped as the agents write them for one workload, `chat-8b`: three
g5.8xlarge replicas (on-demand, $1,787.04 a month each) served by the Deployment `serving/chat-8b`.

- Performance scales the Deployment up (or down, draining first) with a SCALE_DEPLOYMENT step that carries
  `replicas` and `previous_replicas` (agents/kube_steps.py).
- Cost right-sizes the instances to g6.4xlarge (L4 GPUs) by stop / MODIFY_INSTANCE_TYPE / start, or moves
  one replica to spot with a LAUNCH_REPLACEMENT whose lifecycle is `spot`.
- Resource offloads the KV cache to host memory, and Application shortens the context window, each with a
  SET_VLLM_ARGS rolling update of a Deployment."""

from agents.kube_steps import scale_deployment_step, set_vllm_args_step
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel, StepAction, StepPhase
from optiinfra.domain.kube import DeploymentRef, DeploymentState
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, Proposal

DEPLOYMENT = "serving/chat-8b"
OTHER_DEPLOYMENT = "serving/summarize-70b"
INSTANCES = ("i-0a11", "i-0a12", "i-0a13")
REPLICA_MONTHLY_USD = 1787.04  # g5.8xlarge on demand, 730 hours
SPOT_MONTHLY_USD = 715.40
SMALLER_MONTHLY_USD = 965.94  # g6.4xlarge on demand
VLLM_ARGS = ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "32768"]


def deployment(ref: str = DEPLOYMENT, replicas: int = 3) -> DeploymentState:
    namespace, name = ref.split("/")
    return DeploymentState(
        ref=DeploymentRef(namespace=namespace, name=name),
        replicas=replicas,
        ready_replicas=replicas,
        container="vllm",
        args=list(VLLM_ARGS),
        gpus_per_replica=1,
        node_instance_type="g5.8xlarge",
    )


def scale_up(current: int = 3, target: int = 4, *, confidence: float = 0.85) -> Proposal:
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title=f"Scale chat-8b from {current} to {target} replicas ahead of the forecast peak",
        reasoning="p95 TTFT is 2.4 s against an objective of 1.0 s at 12 req/s; a replica serves 3.5 req/s.",
        estimated_monthly_savings_usd=-(target - current) * REPLICA_MONTHLY_USD,
        current_monthly_cost_usd=round(current * REPLICA_MONTHLY_USD, 2),
        projected_monthly_cost_usd=round(target * REPLICA_MONTHLY_USD, 2),
        confidence=confidence,
        risk_level=RiskLevel.LOW,
        steps=[scale_deployment_step(DEPLOYMENT, target, current)],
        evidence={"cost_increase_usd_month": round((target - current) * REPLICA_MONTHLY_USD, 2)},
    )


def scale_down(current: int = 3, target: int = 2) -> Proposal:
    drain = ExecutionStep(
        step_id="drain",
        action=StepAction.DRAIN_PODS,
        target=DEPLOYMENT,
        params={"pods": "chat-8b-7d9f-x2k4l"},
        description=f"Take chat-8b-7d9f-x2k4l out of {DEPLOYMENT}'s Service before scaling in",
        compensation=CompensationStep(
            action=StepAction.RESTORE_PODS,
            target=DEPLOYMENT,
            params={"pods": "chat-8b-7d9f-x2k4l"},
            description="Put chat-8b-7d9f-x2k4l back behind the Service",
        ),
    )
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title=f"Scale chat-8b from {current} to {target} replicas, draining first",
        reasoning="The forecast peak is 5 req/s; two replicas serve 7 req/s within the objective.",
        estimated_monthly_savings_usd=(current - target) * REPLICA_MONTHLY_USD,
        current_monthly_cost_usd=round(current * REPLICA_MONTHLY_USD, 2),
        projected_monthly_cost_usd=round(target * REPLICA_MONTHLY_USD, 2),
        confidence=0.75,
        risk_level=RiskLevel.MEDIUM,
        steps=[drain, scale_deployment_step(DEPLOYMENT, target, current)],
    )


def right_sizing(*, confidence: float = 0.8) -> Proposal:
    steps: list[ExecutionStep] = []
    for n, instance in enumerate(INSTANCES, start=1):
        steps += [
            ExecutionStep(
                step_id=f"stop-{n}",
                action=StepAction.STOP_INSTANCE,
                target=instance,
                description=f"Stop {instance}",
                compensation=CompensationStep(
                    action=StepAction.START_INSTANCE, target=instance, description=f"Start {instance} again"
                ),
            ),
            ExecutionStep(
                step_id=f"resize-{n}",
                action=StepAction.MODIFY_INSTANCE_TYPE,
                target=instance,
                params={"instance_type": "g6.4xlarge"},
                description=f"Change {instance} from g5.8xlarge to g6.4xlarge",
                compensation=CompensationStep(
                    action=StepAction.MODIFY_INSTANCE_TYPE,
                    target=instance,
                    params={"instance_type": "g5.8xlarge"},
                    description=f"Change {instance} back to g5.8xlarge",
                ),
            ),
            ExecutionStep(
                step_id=f"start-{n}",
                action=StepAction.START_INSTANCE,
                target=instance,
                description=f"Start {instance} as g6.4xlarge",
            ),
        ]
    current = round(len(INSTANCES) * REPLICA_MONTHLY_USD, 2)
    projected = round(len(INSTANCES) * SMALLER_MONTHLY_USD, 2)
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title="Right-size chat-8b from g5.8xlarge to g6.4xlarge",
        reasoning="GPU utilization p95 is 31% and memory 38% over 14 days; an L4 holds the model with room.",
        estimated_monthly_savings_usd=round(current - projected, 2),
        current_monthly_cost_usd=current,
        projected_monthly_cost_usd=projected,
        confidence=confidence,
        risk_level=RiskLevel.MEDIUM,
        steps=steps,
        evidence={"from_type": "g5.8xlarge", "to_type": "g6.4xlarge", "spare_fraction": 0.62},
    )


def spot_migration(instance: str = INSTANCES[1]) -> Proposal:
    current = round(len(INSTANCES) * REPLICA_MONTHLY_USD, 2)
    saving = round(REPLICA_MONTHLY_USD - SPOT_MONTHLY_USD, 2)
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        title="Move 1 replica(s) of chat-8b to spot",
        reasoning="Spot g5.8xlarge capacity is interrupted <5% of the time; two replicas stay on-demand.",
        estimated_monthly_savings_usd=saving,
        current_monthly_cost_usd=current,
        projected_monthly_cost_usd=round(current - saving, 2),
        confidence=0.8,
        risk_level=RiskLevel.MEDIUM,
        steps=[
            ExecutionStep(
                step_id="launch-spot-1",
                action=StepAction.LAUNCH_REPLACEMENT,
                target=instance,
                params={"instance_type": "g5.8xlarge", "lifecycle": "spot"},
                description=f"Launch a spot g5.8xlarge to replace {instance}",
                compensation=CompensationStep(
                    action=StepAction.TERMINATE_LAUNCHED,
                    target=instance,
                    params={"launch_step_id": "launch-spot-1"},
                    description=f"Terminate the spot replacement of {instance}",
                ),
            ),
            ExecutionStep(
                step_id="stop-on-demand-1",
                action=StepAction.STOP_INSTANCE,
                target=instance,
                description=f"Stop on-demand {instance} once its replacement runs",
            ),
            ExecutionStep(
                step_id="terminate-on-demand-1",
                phase=StepPhase.FINALIZE,
                action=StepAction.TERMINATE_INSTANCE,
                target=instance,
                description=f"Terminate the replaced on-demand {instance}",
            ),
        ],
        evidence={"interruption_bucket": 0.0, "on_demand_floor": 2.0, "replicas_moved": 1.0},
    )


def kv_tiering(ref: str = DEPLOYMENT) -> Proposal:
    monthly = round(3 * REPLICA_MONTHLY_USD, 2)
    args = [*VLLM_ARGS, "--kv-transfer-config", '{"kv_connector":"OffloadingConnector"}']
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.KV_TIERING,
        title=f"Offload {ref.split('/')[1]}'s KV cache to 48 GiB of host memory per replica: prefix hits "
        "41% -> 63%",
        reasoning="Replaying the last 20,000 requests through kvtier: a host tier lifts prefix hits.",
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=monthly,
        projected_monthly_cost_usd=monthly,
        confidence=0.7,
        risk_level=RiskLevel.MEDIUM,
        steps=[set_vllm_args_step(deployment(ref), args, f"Roll {ref} with kvtier KV offloading")],
        evidence={"hit_rate_gpu_only": 0.41, "hit_rate_with_host_tier": 0.63},
    )


def context_right_sizing(ref: str = DEPLOYMENT) -> Proposal:
    monthly = round(3 * REPLICA_MONTHLY_USD, 2)
    args = [*VLLM_ARGS[:-1], "8192"]
    return Proposal(
        agent=AgentKind.APPLICATION,
        type=RecommendationType.CONTEXT_RIGHT_SIZING,
        title=f"Right-size the context window of {ref.split('/')[1]}: 32,768 -> 8,192 tokens",
        reasoning="Per request type, the p95 of prompt plus output tokens plus 20% fits in 8,192 tokens.",
        estimated_monthly_savings_usd=240.0,
        current_monthly_cost_usd=monthly,
        projected_monthly_cost_usd=round(monthly - 240.0, 2),
        confidence=0.7,
        risk_level=RiskLevel.LOW,
        steps=[set_vllm_args_step(deployment(ref), args, f"Roll {ref} to --max-model-len 8192")],
        evidence={"current_window_tokens": 32768.0, "recommended_window_tokens": 8192.0},
    )
