"""Right-sizing: the cheapest instance type that still holds the workload's p95 utilization plus
headroom, on every axis (GPU compute, GPU memory, vCPU, host memory)."""

from pydantic import BaseModel, Field

from agents.cost.pricing import monthly
from agents.cost.utilization import UtilizationProfile, profile_instances
from optiinfra.domain.enums import (
    AgentKind,
    PurchaseOption,
    RecommendationType,
    RiskLevel,
    StepAction,
    UtilizationMetric,
)
from optiinfra.domain.fleet import Instance, InstanceType, WorkloadSnapshot
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, Proposal


class RightSizingParams(BaseModel):
    headroom: float = Field(default=0.25, ge=0.0, description="Capacity kept free above the p95")
    min_monthly_savings_usd: float = 50.0
    full_history_hours: float = 14 * 24


class CapacityDemand(BaseModel):
    """Absolute demand of one replica at p95, headroom included."""

    gpus: float
    gpu_memory_gib: float
    vcpus: float
    memory_gib: float


def demand_of(profile: UtilizationProfile, current: InstanceType, headroom: float) -> CapacityDemand:
    """Turn percentages of the current type into absolute units comparable across types of one GPU model.
    GPU memory must be memory the server needs (weights plus KV blocks in use), not the pool vLLM
    preallocates, or every vLLM server would look full."""
    scale = 1.0 + headroom
    p95 = profile.p95_percent
    return CapacityDemand(
        gpus=p95[UtilizationMetric.GPU_UTILIZATION] / 100 * current.gpu_count * scale,
        gpu_memory_gib=p95[UtilizationMetric.GPU_MEMORY_UTILIZATION] / 100 * current.gpu_memory_gib * scale,
        vcpus=p95[UtilizationMetric.CPU_UTILIZATION] / 100 * current.vcpu * scale,
        memory_gib=p95[UtilizationMetric.MEMORY_UTILIZATION] / 100 * current.memory_gib * scale,
    )


def spare_fraction(demand: CapacityDemand, candidate: InstanceType) -> float:
    """The smallest spare share across axes; negative means the demand does not fit."""
    ratios = [
        demand.gpus / candidate.gpu_count if candidate.gpu_count else float("inf"),
        demand.gpu_memory_gib / candidate.gpu_memory_gib if candidate.gpu_memory_gib else float("inf"),
        demand.vcpus / candidate.vcpu,
        demand.memory_gib / candidate.memory_gib,
    ]
    return 1.0 - max(ratios)


def cheapest_fit(
    demand: CapacityDemand, current: InstanceType, candidates: list[InstanceType]
) -> InstanceType | None:
    """Same GPU model only: moving across GPU families needs the capacity model's throughput figures."""
    fitting = [
        c
        for c in candidates
        if c.gpu_model == current.gpu_model
        and c.name != current.name
        and spare_fraction(demand, c) >= 0.0
        and c.on_demand_hourly_usd < current.on_demand_hourly_usd
    ]
    return min(fitting, key=lambda c: (c.on_demand_hourly_usd, c.name), default=None)


def analyze_right_sizing(
    snapshot: WorkloadSnapshot, params: RightSizingParams | None = None
) -> Proposal | str:
    """A right-sizing proposal for the workload's on-demand replicas, or the reason there is none."""
    params = params or RightSizingParams()
    replicas = [
        i for i in snapshot.instances if i.state == "running" and i.lifecycle is PurchaseOption.ON_DEMAND
    ]
    type_names = {i.instance_type for i in replicas}
    if len(type_names) != 1:
        return "right-sizing: replicas are not all on one on-demand instance type"
    current = snapshot.instance_types.get(type_names.pop())
    if current is None:
        return "right-sizing: current instance type is not in the price catalog"
    profile = profile_instances(snapshot, replicas)
    if profile is None:
        return "right-sizing: utilization history is missing for some replica"
    demand = demand_of(profile, current, params.headroom)
    target = cheapest_fit(demand, current, snapshot.candidate_types)
    if target is None:
        return f"right-sizing: no cheaper {current.gpu_model} type holds p95 demand plus headroom"
    saving = monthly(current.on_demand_hourly_usd - target.on_demand_hourly_usd) * len(replicas)
    if saving < params.min_monthly_savings_usd:
        return (
            f"right-sizing: saving ${saving:.0f}/month is below the ${params.min_monthly_savings_usd:.0f} bar"
        )
    return _proposal(snapshot, replicas, current, target, profile, demand, saving, params)


def _risk(current: InstanceType, target: InstanceType) -> RiskLevel:
    """Same GPUs on a smaller host is a low-risk move; fewer GPUs changes the tensor-parallel layout.
    Tightness is not a risk here: the headroom is already reserved above the p95."""
    if target.gpu_count != current.gpu_count:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def _confidence(profile: UtilizationProfile, params: RightSizingParams) -> float:
    """A p95 over two weeks has seen the weekly cycle; over a day or two it has not."""
    coverage = min(1.0, profile.covered_hours / params.full_history_hours)
    return round(0.95 * (0.4 + 0.6 * coverage), 3)


def _proposal(
    snapshot: WorkloadSnapshot,
    replicas: list[Instance],
    current: InstanceType,
    target: InstanceType,
    profile: UtilizationProfile,
    demand: CapacityDemand,
    saving: float,
    params: RightSizingParams,
) -> Proposal:
    spare = spare_fraction(demand, target)
    p95 = profile.p95_percent
    current_cost = monthly(current.hourly_price(PurchaseOption.ON_DEMAND)) * len(replicas)
    reasoning = (
        f"Over {profile.covered_hours / 24:.0f} days the busiest of {len(replicas)} {current.name} replicas "
        f"peaked (p95) at {p95[UtilizationMetric.GPU_UTILIZATION]:.0f}% GPU, "
        f"{p95[UtilizationMetric.GPU_MEMORY_UTILIZATION]:.0f}% GPU memory, "
        f"{p95[UtilizationMetric.CPU_UTILIZATION]:.0f}% CPU and "
        f"{p95[UtilizationMetric.MEMORY_UTILIZATION]:.0f}% memory. With {params.headroom:.0%} headroom that "
        f"needs {demand.gpus:.2f} {current.gpu_model} GPUs, {demand.gpu_memory_gib:.0f} GiB GPU memory, "
        f"{demand.vcpus:.1f} vCPUs and {demand.memory_gib:.0f} GiB memory; {target.name} "
        f"({target.gpu_count}x {target.gpu_model}, {target.vcpu} vCPU, {target.memory_gib:.0f} GiB) is the "
        f"cheapest type that holds it, with {spare:.0%} to spare on its tightest axis. Replicas are resized "
        "one at a time (stop, change type, start) so the others keep serving."
    )
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title=f"Resize {len(replicas)} replica(s) of {snapshot.workload.workload_id} "
        f"from {current.name} to {target.name}",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(current_cost, 2),
        projected_monthly_cost_usd=round(current_cost - saving, 2),
        confidence=_confidence(profile, params),
        risk_level=_risk(current, target),
        steps=_steps(replicas, current.name, target.name),
        evidence={
            "from_type": current.name,
            "to_type": target.name,
            "spare_fraction": round(spare, 3),
            **{f"p95_{metric.value}": round(value, 1) for metric, value in p95.items()},
        },
    )


def _steps(replicas: list[Instance], from_type: str, to_type: str) -> list[ExecutionStep]:
    steps: list[ExecutionStep] = []
    for n, instance in enumerate(sorted(replicas, key=lambda i: i.instance_id), start=1):
        iid = instance.instance_id
        steps += [
            ExecutionStep(
                step_id=f"stop-{n}",
                action=StepAction.STOP_INSTANCE,
                target=iid,
                description=f"Stop {iid}",
                compensation=CompensationStep(
                    action=StepAction.START_INSTANCE, target=iid, description=f"Start {iid} again"
                ),
            ),
            ExecutionStep(
                step_id=f"resize-{n}",
                action=StepAction.MODIFY_INSTANCE_TYPE,
                target=iid,
                params={"instance_type": to_type},
                description=f"Change {iid} from {from_type} to {to_type}",
                compensation=CompensationStep(
                    action=StepAction.MODIFY_INSTANCE_TYPE,
                    target=iid,
                    params={"instance_type": from_type},
                    description=f"Change {iid} back to {from_type}",
                ),
            ),
            ExecutionStep(
                step_id=f"start-{n}",
                action=StepAction.START_INSTANCE,
                target=iid,
                description=f"Start {iid} as {to_type}",
                compensation=CompensationStep(
                    action=StepAction.STOP_INSTANCE, target=iid, description=f"Stop {iid} before reverting"
                ),
            ),
        ]
    return steps
