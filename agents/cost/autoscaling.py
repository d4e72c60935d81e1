"""Autoscaling policy: a group held at its peak size pays for the peak around the clock. When its load
follows the hour of day, let Auto Scaling follow it: lower the group's minimum to what the quietest hour
needs, leave room above what the busiest hour needs, and track a load signal.

The signal is vLLM's own when the workload declares its latency objective and the capacity model knows
it: demand per hour is vLLM's request rate (two weeks of it, on the metrics store's ten-minute grid) over
what one replica serves within the objective, and the policy tracks the requests each replica has in
flight (`vllm:num_requests_running`, published by the CloudWatch agent from vLLM's /metrics) at
`target_load_fraction` of the concurrency one replica carries at that capacity (Little's law: rate x
end-to-end time). GPU utilization reads near 100% on a vLLM server with a few requests in flight, so it is
only the fallback, for a workload without an objective or without the history, as below.

How the numbers are read from the group's hourly GPU utilization history:
- load: per hour, the sum over the group's replicas of utilization / 100, i.e. how many replicas were
  busy (replicas without a reading in an hour count nothing for it);
- demand per hour of day: the p95 of that hour's load over the history, so one quiet day does not set
  the minimum;
- replicas needed in an hour: that demand over the target utilization (70% keeps 30% of each replica for
  bursts within the hour and for the time a new replica takes to start);
- min size: the quietest hour's need, at least 1 and at least the workload's on-demand floor; max size:
  the busiest hour's need plus a burst margin;
- the policy: target tracking on the GPU utilization the CloudWatch agent publishes for the group
  (`CWAgent/nvidia_smi_utilization_gpu` aggregated on `AutoScalingGroupName`, Average), at the target.

Timing. A new replica serves only once its instance booted and vLLM loaded the weights
(`replica_ready_seconds`): that is the policy's estimated instance warmup, so readings of a replica that
is still loading do not make the group scale out again. Scaling in is the risky direction: a replica
removed on a dip takes that long to come back if the dip does not last. The daily cycle itself is
predictable and tracking follows it; what makes a dip reverse is the load jumping beyond that cycle. So the
hourly variability is the p95 hour-to-hour change of the load's deviation from its hour of day's median, as
a share of the mean load. Calm traffic gets a scale-in cooldown of one ready time; spiky traffic
(variability above `spiky_hourly_change`) waits `spiky_scale_in_multiplier` ready times, riding out dips
that come back within the hour. The cooldown is set as the group's DefaultCooldown. EC2 Auto Scaling
applies that to simple scaling policies; a target-tracking policy paces its own scale-in (it removes
capacity only after its alarm saw a sustained dip), so on AWS the value records the intended pace and holds
for any simple policy added to the group later.

Cost: today, the group's desired capacity around the clock at the on-demand price; with the policy, in
each hour of the day the replicas that hour needs (never fewer than the minimum)."""

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from agents.cost.pricing import HOURS_PER_MONTH, monthly
from agents.cost.rightsizing import request_shape_for
from agents.cost.sizing import replica_capacity
from agents.cost.spot_floor import group_spot_price
from agents.cost.utilization import percentile
from optiinfra.capacity import config_for_instance, replica_performance
from optiinfra.capacity.estimate import CapacityEstimator
from optiinfra.capacity.models import capacity_model_for
from optiinfra.domain.cloudwatch import (
    GPU_UTILIZATION,
    GROUP_DIMENSION,
    VLLM_REQUESTS_RUNNING,
    CloudWatchMetric,
)
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel, StepAction, UtilizationMetric
from optiinfra.domain.fleet import (
    InstanceType,
    ScalingGroupState,
    ScalingMetric,
    ScalingPolicy,
    WorkloadSnapshot,
)
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, Proposal

POLICY_NAME = "optiinfra-gpu-utilization"
VLLM_POLICY_NAME = "optiinfra-vllm-requests-running"
HOURS_PER_DAY = 24


class AutoscalingParams(BaseModel):
    target_gpu_utilization: float = Field(
        default=70.0, gt=0, le=100, description="Average GPU utilization (percent) the fallback policy holds"
    )
    target_load_fraction: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Share of a replica's capacity within the objective the vLLM policy holds it at",
    )
    burst_margin: float = Field(
        default=0.25,
        ge=0,
        description="Replicas above the busiest hour's need, as a share of it (at least 1)",
    )
    replica_ready_seconds: int = Field(
        default=600, gt=0, description="Boot plus weight load: how long a new replica takes to serve"
    )
    spiky_hourly_change: float = Field(
        default=0.25,
        gt=0,
        description="p95 hour-to-hour load change (share of the mean) above which it is spiky",
    )
    spiky_scale_in_multiplier: int = Field(default=3, ge=1)
    min_history_hours: float = Field(default=7 * 24, ge=HOURS_PER_DAY)
    full_history_hours: float = 14 * 24
    min_monthly_savings_usd: float = 50.0


class DailyDemand(BaseModel):
    """The group's load in busy replicas: per clock hour, and its p95 per hour of day (UTC)."""

    hourly: dict[datetime, float]
    by_hour_of_day: list[float] = Field(min_length=HOURS_PER_DAY, max_length=HOURS_PER_DAY)

    @property
    def covered_hours(self) -> int:
        return len(self.hourly)

    def hourly_variability(self) -> float:
        """The p95 hour-to-hour change of the load beyond its daily cycle, as a share of the mean load."""
        by_hour_of_day: dict[int, list[float]] = defaultdict(list)
        for hour, load in self.hourly.items():
            by_hour_of_day[hour.hour].append(load)
        typical = {hour_of_day: statistics.median(loads) for hour_of_day, loads in by_hour_of_day.items()}
        deviation = {hour: load - typical[hour.hour] for hour, load in self.hourly.items()}
        changes = [
            abs(value - deviation[hour - timedelta(hours=1)])
            for hour, value in deviation.items()
            if hour - timedelta(hours=1) in deviation
        ]
        mean = statistics.fmean(self.hourly.values())
        return percentile(changes, 95) / mean if changes and mean > 0 else 0.0


def group_demand(snapshot: WorkloadSnapshot, instance_ids: list[str]) -> DailyDemand | None:
    """The load of these replicas from their GPU utilization series; None when some hour of the day has
    never been seen."""
    readings: dict[tuple[str, datetime], list[float]] = defaultdict(list)
    for instance_id in instance_ids:
        series = snapshot.series_for(instance_id, UtilizationMetric.GPU_UTILIZATION)
        if series is None:
            continue
        for index, value in enumerate(series.values):
            moment = series.start + timedelta(seconds=index * series.period_seconds)
            readings[instance_id, moment.replace(minute=0, second=0, microsecond=0)].append(value)
    hourly: dict[datetime, float] = defaultdict(float)
    for (_, hour), values in readings.items():
        hourly[hour] += statistics.fmean(values) / 100
    return daily_demand(hourly)


def daily_demand(hourly: dict[datetime, float]) -> DailyDemand | None:
    """The load per clock hour with its p95 per hour of day; None when some hour of the day is unseen."""
    by_hour_of_day: dict[int, list[float]] = defaultdict(list)
    for hour, load in hourly.items():
        by_hour_of_day[hour.hour].append(load)
    if len(by_hour_of_day) < HOURS_PER_DAY:
        return None
    return DailyDemand(
        hourly=dict(sorted(hourly.items())),
        by_hour_of_day=[percentile(by_hour_of_day[h], 95) for h in range(HOURS_PER_DAY)],
    )


class VllmSignal(BaseModel):
    """What one replica carries within the objective: requests/s, and requests in flight at that rate."""

    capacity_rps: float = Field(gt=0)
    in_flight: float = Field(gt=0)
    source: str


def vllm_signal(snapshot: WorkloadSnapshot, instance_type: InstanceType) -> VllmSignal | str:
    """One replica's capacity within the objective and its concurrency there; why not, when unknown."""
    shape = request_shape_for(snapshot)
    if shape is None:
        return "the workload declares no latency objective (slo_ttft_p95_s, slo_itl_p95_s)"
    model = snapshot.workload.model_name
    estimator = CapacityEstimator(
        profiles=snapshot.capacity_profiles, workload_id=snapshot.workload.workload_id
    )
    capacity = replica_capacity(instance_type, model, shape, estimator)
    if capacity is None or capacity.requests_per_s <= 0:
        return f"the capacity model has no rate within the objective for {model} on {instance_type.name}"
    config = config_for_instance(instance_type, capacity_model_for(model))
    at_capacity = replica_performance(config, shape.tokens.at_rate(capacity.requests_per_s))
    in_flight = capacity.requests_per_s * at_capacity.e2e_s
    if not math.isfinite(in_flight) or in_flight <= 0:
        return "the capacity model gives no finite latency at the replica's capacity"
    return VllmSignal(
        capacity_rps=capacity.requests_per_s,
        in_flight=in_flight,
        source=f"{capacity.source.value}: {capacity.requests_per_s:.2f} requests/s within the objective",
    )


def rate_demand(snapshot: WorkloadSnapshot, capacity_rps: float) -> DailyDemand | None:
    """The workload's load in replicas at capacity, from vLLM's request-rate history (each clock hour its
    busiest ten minutes); None when some hour of the day has never been seen."""
    history = snapshot.request_rate
    if history is None:
        return None
    hourly: dict[datetime, float] = {}
    for index, value in enumerate(history.values):
        if value is None:
            continue
        moment = history.start + timedelta(seconds=index * history.interval_seconds)
        hour = moment.replace(minute=0, second=0, microsecond=0)
        hourly[hour] = max(hourly.get(hour, 0.0), value / capacity_rps)
    return daily_demand(hourly)


def _group_average_policy(
    name: str, metric: CloudWatchMetric, group_name: str, target: float, params: AutoscalingParams
) -> ScalingPolicy:
    """Target tracking on the group's average of `metric`, new replicas counted after their warmup."""
    return ScalingPolicy(
        name=name,
        metric=ScalingMetric(
            namespace=metric.namespace,
            metric_name=metric.name,
            dimensions={GROUP_DIMENSION: group_name},
            statistic="Average",
        ),
        target_value=target,
        estimated_instance_warmup=params.replica_ready_seconds,
    )


def requests_running_policy(group_name: str, target: float, params: AutoscalingParams) -> ScalingPolicy:
    return _group_average_policy(
        VLLM_POLICY_NAME, VLLM_REQUESTS_RUNNING, group_name, round(target, 2), params
    )


def replicas_for(load: float, target_utilization: float) -> int:
    """Replicas that carry `load` busy replicas at the target utilization (percent)."""
    return max(0, math.ceil(load / (target_utilization / 100) - 1e-9))


def scale_in_cooldown(variability: float, params: AutoscalingParams) -> int:
    """See the module docstring: one ready time for calm traffic, several for spiky traffic."""
    multiplier = params.spiky_scale_in_multiplier if variability > params.spiky_hourly_change else 1
    return params.replica_ready_seconds * multiplier


def gpu_utilization_policy(group_name: str, params: AutoscalingParams) -> ScalingPolicy:
    return _group_average_policy(
        POLICY_NAME, GPU_UTILIZATION, group_name, params.target_gpu_utilization, params
    )


class AutoscalingPlan(BaseModel):
    """What the group should become, and why."""

    group: ScalingGroupState
    instance_type: InstanceType
    needed_by_hour: list[int]
    min_size: int
    max_size: int
    default_cooldown: int
    policy: ScalingPolicy
    variability: float
    covered_hours: int
    signal: VllmSignal | None = None
    """The vLLM signal the plan scales on; None: GPU utilization."""
    fallback: str | None = None
    """Why the plan scales on GPU utilization, when it does."""
    spot_hourly_usd: float | None = None
    """In a mixed group, what a replica above the on-demand base costs: the dearest spot price of the
    group's types, as the spot migration priced it."""

    def hourly_usd(self, replicas: int) -> float:
        """What `replicas` in the group cost per hour: the on-demand base first, spot above it."""
        on_demand_price = self.instance_type.on_demand_hourly_usd
        base = self.group.on_demand_base_capacity
        if base is None or self.spot_hourly_usd is None:
            return on_demand_price * replicas
        on_demand = min(base, replicas)
        return on_demand_price * on_demand + self.spot_hourly_usd * (replicas - on_demand)

    @property
    def current_monthly_usd(self) -> float:
        return monthly(self.hourly_usd(self.group.desired_capacity))

    @property
    def replicas_by_hour(self) -> list[int]:
        """What the group runs in each hour of the day: what the hour needs, never below the minimum nor
        above the maximum."""
        return [min(self.max_size, max(self.min_size, need)) for need in self.needed_by_hour]

    @property
    def projected_monthly_usd(self) -> float:
        per_day = sum(self.hourly_usd(replicas) for replicas in self.replicas_by_hour)
        return per_day * HOURS_PER_MONTH / HOURS_PER_DAY

    @property
    def unchanged(self) -> bool:
        group = self.group
        return (group.min_size, group.max_size, group.default_cooldown) == (
            self.min_size,
            self.max_size,
            self.default_cooldown,
        ) and group.policy(self.policy.name) == self.policy

    @property
    def replaced_policy(self) -> ScalingPolicy | None:
        """OptiInfra's GPU-utilization policy, when the plan moves the group to the vLLM one."""
        return self.group.policy(POLICY_NAME) if self.policy.name != POLICY_NAME else None


def _too_short(demand: DailyDemand | None, signal: str, params: AutoscalingParams) -> str:
    hours = 0 if demand is None else demand.covered_hours
    return f"{hours} hours of {signal} history, {params.min_history_hours:.0f} needed to see the daily cycle"


def _vllm_demand(
    snapshot: WorkloadSnapshot, instance_type: InstanceType, params: AutoscalingParams
) -> tuple[VllmSignal, DailyDemand] | str:
    """vLLM's signal and the demand it reads, or why the plan cannot scale on it."""
    signal = vllm_signal(snapshot, instance_type)
    if isinstance(signal, str):
        return signal
    demand = rate_demand(snapshot, signal.capacity_rps)
    if demand is None or demand.covered_hours < params.min_history_hours:
        return _too_short(demand, "vLLM request-rate", params)
    return signal, demand


def plan_autoscaling(snapshot: WorkloadSnapshot, params: AutoscalingParams) -> AutoscalingPlan | str:
    """The plan, or the reason there is none to make."""
    group = snapshot.scaling_group
    if group is None:
        return "autoscaling: the workload does not run in an Auto Scaling group"
    if group.other_policies:
        return (
            f"autoscaling: {group.name} already scales by other policies ({', '.join(group.other_policies)})"
        )
    replicas = [i for i in snapshot.instances if i.instance_id in group.instance_ids and i.state == "running"]
    type_names = {i.instance_type for i in replicas}
    if len(type_names) != 1:
        return f"autoscaling: the running replicas of {group.name} are not all of one instance type"
    instance_type = snapshot.instance_types.get(type_names.pop())
    if instance_type is None:
        return "autoscaling: the group's instance type is not in the price catalog"
    found = _vllm_demand(snapshot, instance_type, params)
    chosen: VllmSignal | None
    if isinstance(found, str):
        chosen, fallback = None, found
        gpu_demand = group_demand(snapshot, [i.instance_id for i in replicas])
        if gpu_demand is None or gpu_demand.covered_hours < params.min_history_hours:
            return f"autoscaling: {_too_short(gpu_demand, 'GPU utilization', params)}"
        demand = gpu_demand
        needed = [replicas_for(load, params.target_gpu_utilization) for load in demand.by_hour_of_day]
        policy = gpu_utilization_policy(group.name, params)
    else:
        (chosen, demand), fallback = found, None
        needed = [replicas_for(load, params.target_load_fraction * 100) for load in demand.by_hour_of_day]
        policy = requests_running_policy(group.name, chosen.in_flight * params.target_load_fraction, params)
    min_size = max(1, snapshot.workload.min_on_demand_instances, min(needed))
    busiest = max(needed)
    max_size = max(min_size, busiest + max(1, math.ceil(busiest * params.burst_margin)))
    variability = demand.hourly_variability()
    return AutoscalingPlan(
        group=group,
        instance_type=instance_type,
        needed_by_hour=needed,
        min_size=min_size,
        max_size=max_size,
        default_cooldown=scale_in_cooldown(variability, params),
        policy=policy,
        variability=variability,
        covered_hours=demand.covered_hours,
        signal=chosen,
        fallback=fallback,
        spot_hourly_usd=_group_spot_price(snapshot, group),
    )


def _group_spot_price(snapshot: WorkloadSnapshot, group: ScalingGroupState) -> float | None:
    """What a replica above a mixed group's on-demand base costs; None for a group without spot."""
    if not group.mixed:
        return None
    known = (snapshot.instance_types.get(name) for name in group.spot_instance_types)
    return group_spot_price(t for t in known if t is not None)


def analyze_autoscaling(
    snapshot: WorkloadSnapshot, params: AutoscalingParams | None = None
) -> Proposal | str:
    """An autoscaling-policy proposal for the workload's Auto Scaling group, or the reason there is none."""
    params = params or AutoscalingParams()
    plan = plan_autoscaling(snapshot, params)
    if isinstance(plan, str):
        return plan
    if plan.unchanged:
        return f"autoscaling: {plan.group.name} already scales this way"
    saving = plan.current_monthly_usd - plan.projected_monthly_usd
    if saving < params.min_monthly_savings_usd:
        return (
            f"autoscaling: saving ${saving:.0f}/month is below the ${params.min_monthly_savings_usd:.0f} bar"
        )
    return _proposal(snapshot, plan, saving, params)


def _confidence(plan: AutoscalingPlan, params: AutoscalingParams) -> float:
    """Two weeks of history have seen every weekday's cycle; one week has seen each once."""
    coverage = min(1.0, plan.covered_hours / params.full_history_hours)
    return round(0.9 * (0.4 + 0.6 * coverage), 3)


def _proposal(
    snapshot: WorkloadSnapshot, plan: AutoscalingPlan, saving: float, params: AutoscalingParams
) -> Proposal:
    group = plan.group
    needed = plan.needed_by_hour
    quiet_hour, busy_hour = needed.index(min(needed)), needed.index(max(needed))
    traffic = "calm" if plan.default_cooldown == params.replica_ready_seconds else "spiky"
    policies = ", ".join(f"policy {p.name}" for p in group.policies) or "no scaling policy"
    signal = plan.signal
    if signal is not None:
        measure = (
            f"vLLM's request rate against one replica's {signal.source}, held at "
            f"{params.target_load_fraction:.0%} of it"
        )
        tracked = (
            f"its average requests in flight per replica (vLLM's num_requests_running, which the CloudWatch "
            "agent publishes from /metrics, aggregated by AutoScalingGroupName) at "
            f"{plan.policy.target_value:g}, "
            f"{params.target_load_fraction:.0%} of the {signal.in_flight:.1f} one replica carries at that "
            "rate"
        )
    else:
        measure = f"{params.target_gpu_utilization:.0f}% GPU utilization"
        tracked = (
            "its average GPU utilization (the CloudWatch agent's nvidia_smi_utilization_gpu, aggregated by "
            f"AutoScalingGroupName), which overstates a vLLM server's load; it scales on GPU utilization "
            f"because {plan.fallback}"
        )
    reasoning = (
        f"{snapshot.workload.name} runs {group.desired_capacity} {plan.instance_type.name} replicas in "
        f"{group.name} around the clock (min {group.min_size}, max {group.max_size}, {policies}), "
        f"but over {plan.covered_hours / 24:.0f} days, at {measure}, it needed {min(needed)} replica(s) at "
        f"{quiet_hour:02d}:00 UTC and {max(needed)} at {busy_hour:02d}:00 UTC (p95 of each hour). Letting "
        f"the group scale between {plan.min_size} and {plan.max_size} replicas on {tracked} follows the "
        "daily cycle. New "
        f"replicas count after a {params.replica_ready_seconds}s warmup (boot and weight load); scale-in "
        f"waits {plan.default_cooldown}s between activities because beyond its daily cycle the load "
        f"jumps by up to {plan.variability:.0%} of its mean from one hour to the next ({traffic}). Scaling "
        "in can raise latency when traffic climbs faster than a replica starts, hence medium risk."
    )
    on = (
        f"{plan.policy.target_value:g} vLLM requests in flight per replica"
        if signal is not None
        else f"{params.target_gpu_utilization:.0f}% GPU utilization"
    )
    workload_id = snapshot.workload.workload_id
    title = f"Autoscale {workload_id} between {plan.min_size} and {plan.max_size} replicas on {on}"
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.AUTOSCALING_POLICY,
        title=title,
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(plan.current_monthly_usd, 2),
        projected_monthly_cost_usd=round(plan.projected_monthly_usd, 2),
        confidence=_confidence(plan, params),
        risk_level=RiskLevel.MEDIUM,
        steps=_steps(plan),
        evidence={
            "scaling_group": group.name,
            "min_size": float(plan.min_size),
            "max_size": float(plan.max_size),
            "scaling_signal": "vllm_requests_running" if signal is not None else "gpu_utilization",
            "target_value": plan.policy.target_value,
            "estimated_instance_warmup_s": float(params.replica_ready_seconds),
            "scale_in_cooldown_s": float(plan.default_cooldown),
            "hourly_variability": round(plan.variability, 3),
            "quiet_hour_replicas": float(min(needed)),
            "busy_hour_replicas": float(max(needed)),
        },
    )


def _steps(plan: AutoscalingPlan) -> list[ExecutionStep]:
    """Widen the limits first (nothing moves without a policy), then put the policy (after deleting
    OptiInfra's GPU-utilization policy when the vLLM one replaces it: two target-tracking policies would
    both act). Compensation runs in reverse: the policy goes (or the old one returns) before the old size
    is restored."""
    group = plan.group
    name = group.name
    policy_name = plan.policy.name
    old_policy = group.policy(policy_name)
    restore_policy = (
        CompensationStep(
            action=StepAction.PUT_SCALING_POLICY,
            target=name,
            params={"policy_name": policy_name, "policy": old_policy.model_dump_json()},
            description=f"Put back the earlier policy {policy_name} of {name}",
        )
        if old_policy is not None
        else CompensationStep(
            action=StepAction.DELETE_SCALING_POLICY,
            target=name,
            params={"policy_name": policy_name},
            description=f"Delete policy {policy_name} from {name}",
        )
    )
    steps = [
        ExecutionStep(
            step_id="update-scaling-group",
            action=StepAction.UPDATE_SCALING_GROUP,
            target=name,
            params={
                "min_size": str(plan.min_size),
                "max_size": str(plan.max_size),
                "default_cooldown": str(plan.default_cooldown),
            },
            description=f"Let {name} scale between {plan.min_size} and {plan.max_size} replicas, "
            f"{plan.default_cooldown}s cooldown",
            compensation=CompensationStep(
                action=StepAction.UPDATE_SCALING_GROUP,
                target=name,
                params={
                    "min_size": str(group.min_size),
                    "max_size": str(group.max_size),
                    "desired_capacity": str(group.desired_capacity),
                    "default_cooldown": str(group.default_cooldown),
                },
                description=f"Restore {name} to {group.min_size}-{group.max_size} replicas, "
                f"{group.desired_capacity} desired, {group.default_cooldown}s cooldown",
            ),
        )
    ]
    replaced = plan.replaced_policy
    if replaced is not None:
        steps.append(
            ExecutionStep(
                step_id="delete-gpu-policy",
                action=StepAction.DELETE_SCALING_POLICY,
                target=name,
                params={"policy_name": replaced.name},
                description=f"Delete {replaced.name}, which the vLLM policy replaces",
                compensation=CompensationStep(
                    action=StepAction.PUT_SCALING_POLICY,
                    target=name,
                    params={"policy_name": replaced.name, "policy": replaced.model_dump_json()},
                    description=f"Put back {replaced.name} of {name}",
                ),
            )
        )
    tracked = (
        f"{plan.policy.target_value:g} vLLM requests in flight per replica"
        if plan.signal is not None
        else f"{plan.policy.target_value:.0f}% average GPU utilization"
    )
    steps.append(
        ExecutionStep(
            step_id="put-scaling-policy",
            action=StepAction.PUT_SCALING_POLICY,
            target=name,
            params={"policy_name": policy_name, "policy": plan.policy.model_dump_json()},
            description=f"Track {tracked} across {name}",
            compensation=restore_policy,
        )
    )
    return steps
