"""Spot migration: move the replicas of a stateless, non-critical workload to spot capacity,
keeping an on-demand floor so one interruption cannot take the whole workload down."""

import math

from pydantic import BaseModel, Field

from agents.cost.pricing import monthly
from optiinfra.domain.enums import (
    AgentKind,
    PurchaseOption,
    RecommendationType,
    RiskLevel,
    StepAction,
    StepPhase,
)
from optiinfra.domain.fleet import Instance, InstanceType, Workload, WorkloadSnapshot
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, Proposal

# AWS Spot Advisor buckets: 0 <5%, 1 5-10%, 2 10-15%, 3 15-20%, 4 >20% monthly interruption frequency.
_INTERRUPTION_RANGE = {0: "<5%", 1: "5-10%", 2: "10-15%", 3: "15-20%", 4: ">20%"}


class SpotMigrationParams(BaseModel):
    on_demand_floor_fraction: float = Field(default=0.25, ge=0.0, le=1.0)
    max_interruption_bucket: int = Field(default=3, ge=0, le=4)
    min_monthly_savings_usd: float = 50.0
    full_history_hours: float = 14 * 24


def analyze_spot_migration(
    snapshot: WorkloadSnapshot, params: SpotMigrationParams | None = None
) -> Proposal | str:
    """A spot migration proposal, or the reason there is none."""
    params = params or SpotMigrationParams()
    workload = snapshot.workload
    if not workload.stateless:
        return "spot migration: workload keeps state on its instances"
    if workload.critical:
        return "spot migration: workload is marked critical"
    if snapshot.scaling_group is not None:
        return "spot migration: replicas belong to an Auto Scaling group, which would replace them"
    running = [i for i in snapshot.instances if i.state == "running"]
    on_demand = [i for i in running if i.lifecycle is PurchaseOption.ON_DEMAND]
    floor = on_demand_floor(len(running), workload, params.on_demand_floor_fraction)
    # The floor counts the on-demand replicas that remain: replicas already on spot never stand in for it.
    movable = _eligible(on_demand, snapshot.instance_types, params)
    to_move = sorted(movable, key=lambda i: i.instance_id)[: max(0, len(on_demand) - floor)]
    if not to_move:
        return f"spot migration: nothing to move above the on-demand floor of {floor}"
    return _proposal(snapshot, to_move, floor, params)


def on_demand_floor(replicas: int, workload: Workload, fraction: float) -> int:
    """Replicas of `replicas` that stay on-demand: the workload's own minimum, and at least `fraction` of
    them rounded up, so one spot reclaim cannot take the workload below a serving core."""
    return max(workload.min_on_demand_instances, math.ceil(replicas * fraction))


def spot_eligible_type(instance_type: InstanceType, max_interruption_bucket: int) -> bool:
    """Spot is worth it on this type: priced, interrupted no more often than the bucket allows, and
    cheaper than on-demand."""
    return (
        instance_type.spot_hourly_usd is not None
        and instance_type.spot_interruption_bucket is not None
        and instance_type.spot_interruption_bucket <= max_interruption_bucket
        and instance_type.spot_hourly_usd < instance_type.on_demand_hourly_usd
    )


def _eligible(
    instances: list[Instance], types: dict[str, InstanceType], params: SpotMigrationParams
) -> list[Instance]:
    def ok(instance: Instance) -> bool:
        it = types.get(instance.instance_type)
        return it is not None and spot_eligible_type(it, params.max_interruption_bucket)

    return [i for i in instances if ok(i)]


def _risk(bucket: int, moved: int, total: int) -> RiskLevel:
    if bucket >= 3 or moved == total:
        return RiskLevel.HIGH
    return RiskLevel.MEDIUM


def _confidence(snapshot: WorkloadSnapshot, bucket: int, params: SpotMigrationParams) -> float:
    """Savings of spot are near certain; what is uncertain is how often capacity is taken back,
    so confidence falls with the interruption bucket and with thin history."""
    hours = min((len(s.values) * s.period_seconds / 3600 for s in snapshot.series), default=0.0)
    coverage = min(1.0, hours / params.full_history_hours)
    return round(max(0.0, (0.95 - 0.07 * bucket) * (0.5 + 0.5 * coverage)), 3)


def _proposal(
    snapshot: WorkloadSnapshot, to_move: list[Instance], floor: int, params: SpotMigrationParams
) -> Proposal | str:
    types = snapshot.instance_types
    current = sum(
        monthly(types[i.instance_type].hourly_price(i.lifecycle))
        for i in snapshot.instances
        if i.state == "running" and i.instance_type in types
    )
    saving = sum(
        monthly(types[i.instance_type].hourly_price(PurchaseOption.ON_DEMAND))
        - monthly(types[i.instance_type].hourly_price(PurchaseOption.SPOT))
        for i in to_move
    )
    if saving < params.min_monthly_savings_usd:
        bar = params.min_monthly_savings_usd
        return f"spot migration: saving ${saving:.0f}/month is below the ${bar:.0f} bar"
    worst_bucket = max(types[i.instance_type].spot_interruption_bucket or 0 for i in to_move)
    running = sum(1 for i in snapshot.instances if i.state == "running")
    type_names = sorted({i.instance_type for i in to_move})
    reasoning = (
        f"{len(to_move)} of {running} replicas of {snapshot.workload.name} run on-demand "
        f"({', '.join(type_names)}) and the workload is stateless and not critical. Spot capacity for "
        f"these types is interrupted {_INTERRUPTION_RANGE[worst_bucket]} of the time per month (AWS Spot "
        f"Advisor), so {floor} replica(s) stay on-demand as a floor. Each replacement is launched and "
        "serving before its on-demand instance is stopped; the stopped instances are terminated only after "
        "verification passes."
    )
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        title=f"Move {len(to_move)} replica(s) of {snapshot.workload.workload_id} to spot",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(current, 2),
        projected_monthly_cost_usd=round(current - saving, 2),
        confidence=_confidence(snapshot, worst_bucket, params),
        risk_level=_risk(worst_bucket, len(to_move), running),
        steps=_steps(to_move),
        evidence={
            "interruption_bucket": float(worst_bucket),
            "on_demand_floor": float(floor),
            "replicas_moved": float(len(to_move)),
        },
    )


def _steps(to_move: list[Instance]) -> list[ExecutionStep]:
    apply: list[ExecutionStep] = []
    finalize: list[ExecutionStep] = []
    for n, instance in enumerate(to_move, start=1):
        launch_id = f"launch-spot-{n}"
        apply.append(
            ExecutionStep(
                step_id=launch_id,
                action=StepAction.LAUNCH_REPLACEMENT,
                target=instance.instance_id,
                params={"instance_type": instance.instance_type, "lifecycle": PurchaseOption.SPOT.value},
                description=f"Launch a spot {instance.instance_type} to replace {instance.instance_id}",
                compensation=CompensationStep(
                    action=StepAction.TERMINATE_LAUNCHED,
                    target=instance.instance_id,
                    params={"launch_step_id": launch_id},
                    description=f"Terminate the spot replacement of {instance.instance_id}",
                ),
            )
        )
        apply.append(
            ExecutionStep(
                step_id=f"stop-on-demand-{n}",
                action=StepAction.STOP_INSTANCE,
                target=instance.instance_id,
                description=f"Stop on-demand {instance.instance_id} once its replacement runs",
                compensation=CompensationStep(
                    action=StepAction.START_INSTANCE,
                    target=instance.instance_id,
                    description=f"Start {instance.instance_id} again",
                ),
            )
        )
        finalize.append(
            ExecutionStep(
                step_id=f"terminate-on-demand-{n}",
                phase=StepPhase.FINALIZE,
                action=StepAction.TERMINATE_INSTANCE,
                target=instance.instance_id,
                description=f"Terminate the replaced on-demand {instance.instance_id}",
            )
        )
    return apply + finalize
