"""Right-sizing: the cheapest instance type that still holds the workload's p95 utilization plus
headroom, on every axis (GPU compute, GPU memory, vCPU, host memory).

Within one GPU model the utilization percentages translate directly into the candidate's units. Across GPU
families (A10G, L4, L40S, ...) they do not, so when the workload declares its latency objective and the
capacity model knows its model, the agent sizes on requests per second instead: the peak load in busy-GPU
equivalents times what the current type pushes through at full load, against what each candidate serves
within the SLO, and may change the replica count. The peak load is the request rate vLLM itself counted
(the p95 over its request-rate history when that holds a week, else over its recent windows) when it
reports one; GPU utilization as nvidia-smi reports it overstates a vLLM server's load (a kernel running is
"busy"), so it is only the fallback, erring towards more capacity, never less.

A candidate must hold the window the replicas serve: vLLM refuses to start when `--max-model-len` exceeds
the tokens its KV cache holds, so a type whose cache cannot take one full-length sequence is never
proposed. The window is the Deployment's `--max-model-len`, else the longest request of the workload's
request log, else its p99 prompt plus mean output.

Replicas are replaced, not restarted: each new replica is launched and running before the old one stops
(no capacity lost if the new type has none to give), and the old ones are terminated only after
verification; the rollback terminates the new replicas and starts the old ones."""

import math
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from agents.cost.pricing import monthly
from agents.cost.retirement import retirement_steps
from agents.cost.sizing import RequestShape, Sizing, cheapest_on_demand, sizings, type_capacities
from agents.cost.spot_floor import on_demand_base, replica_zones, spot_eligible_type
from agents.cost.utilization import UtilizationProfile, percentile, profile_instances
from agents.request_shape import workload_token_shape
from optiinfra.capacity import config_for_instance, kv_capacity_tokens, max_throughput_rps
from optiinfra.capacity.estimate import CapacityEstimator
from optiinfra.capacity.models import capacity_model_for
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
from optiinfra.kube.vllm_args import positive_int_flag


class RightSizingParams(BaseModel):
    headroom: float = Field(default=0.25, ge=0.0, description="Capacity kept free above the p95")
    min_monthly_savings_usd: float = 50.0
    full_history_hours: float = 14 * 24
    spot_max_interruption_bucket: int = Field(
        default=3, ge=0, le=4, description="Spot migration's bar, for the look-ahead on stateless workloads"
    )


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
    demand: CapacityDemand,
    current: InstanceType,
    candidates: list[InstanceType],
    allowed: "Callable[[InstanceType], bool] | None" = None,
) -> InstanceType | None:
    """Same GPU model only: moving across GPU families needs the capacity model's throughput figures.
    `allowed`: the workload's further rules on a candidate (its KV cache takes the served window; None:
    none)."""
    fitting = [
        c
        for c in candidates
        if c.gpu_model == current.gpu_model
        and c.name != current.name
        and spare_fraction(demand, c) >= 0.0
        and c.on_demand_hourly_usd < current.on_demand_hourly_usd
        and (allowed is None or allowed(c))
    ]
    return min(fitting, key=lambda c: (c.on_demand_hourly_usd, c.name), default=None)


def analyze_right_sizing(
    snapshot: WorkloadSnapshot, params: RightSizingParams | None = None
) -> Proposal | str:
    """A right-sizing proposal for the workload's on-demand replicas, or the reason there is none."""
    params = params or RightSizingParams()
    if snapshot.scaling_group is not None:
        return "right-sizing: replicas belong to an Auto Scaling group (change its launch template instead)"
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
    window = served_window(snapshot)
    across = _across_families(snapshot, replicas, current, demand, params, window)
    if isinstance(across, Proposal):
        return across
    holds_window = _window_check(snapshot, window)
    keeps_spot = _keeps_spot(snapshot, current, params)

    def allowed(candidate: InstanceType) -> bool:
        return (holds_window is None or holds_window(candidate)) and (
            keeps_spot is None or keeps_spot(candidate)
        )

    target = cheapest_fit(demand, current, snapshot.candidate_types, allowed)
    if target is None:
        return (
            f"right-sizing: no cheaper {current.gpu_model} type holds p95 demand plus headroom"
            + (f" and a {window.tokens:,}-token window ({window.source})" if window is not None else "")
            + (" with cheaper spot (the stateless replicas will run on spot)" if keeps_spot else "")
        )
    saving = monthly(current.on_demand_hourly_usd - target.on_demand_hourly_usd) * len(replicas)
    if saving < params.min_monthly_savings_usd:
        return (
            f"right-sizing: saving ${saving:.0f}/month is below the ${params.min_monthly_savings_usd:.0f} bar"
        )
    return _proposal(snapshot, replicas, current, target, profile, demand, saving, params, window)


def _keeps_spot(
    snapshot: WorkloadSnapshot, current: InstanceType, params: RightSizingParams
) -> Callable[[InstanceType], bool] | None:
    """For a stateless workload on a type spot is worth running on, the replicas above the on-demand base
    will run on spot, so the price that matters is spot's: a same-GPU move must keep spot and make it
    cheaper (None: no such constraint)."""
    bucket = params.spot_max_interruption_bucket
    if not snapshot.workload.stateless or not spot_eligible_type(current, bucket):
        return None
    current_spot = current.spot_hourly_usd or 0.0

    def keeps(candidate: InstanceType) -> bool:
        return spot_eligible_type(candidate, bucket) and (candidate.spot_hourly_usd or 0.0) < current_spot

    return keeps


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
    window: "ServedWindow | None",
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
        f"cheapest type that holds it, with {spare:.0%} to spare on its tightest axis"
        + _window_text(snapshot, target, window)
        + f". {REPLACE_TEXT}"
    )
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title=f"Replace {len(replicas)} replica(s) of {snapshot.workload.workload_id} "
        f"from {current.name} to {target.name}",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(current_cost, 2),
        projected_monthly_cost_usd=round(current_cost - saving, 2),
        confidence=_confidence(profile, params),
        risk_level=_risk(current, target),
        steps=_replacement_steps(replicas, target.name),
        evidence={
            "from_type": current.name,
            "to_type": target.name,
            "spare_fraction": round(spare, 3),
            **_window_evidence(window),
            **{f"p95_{metric.value}": round(value, 1) for metric, value in p95.items()},
        },
    )


REPLACE_TEXT = (
    "Each replica is replaced, not restarted: its successor is launched and running before it stops, so "
    "a type with no capacity to give costs nothing but the failed launch; the old replicas are terminated "
    "only after verification, and a rollback terminates the new ones and starts the old ones again"
)


def _replacement_steps(replicas: list[Instance], to_type: str) -> list[ExecutionStep]:
    """Per replica, a successor of `to_type` launched from its launch setup, then the replica stopped; the
    stopped replicas are terminated once the change is verified."""
    steps: list[ExecutionStep] = []
    terminations: list[ExecutionStep] = []
    for n, instance in enumerate(sorted(replicas, key=lambda i: i.instance_id), start=1):
        iid = instance.instance_id
        stop, terminate = retirement_steps(iid, n, f"a {to_type} successor")
        steps += [
            ExecutionStep(
                step_id=f"launch-{n}",
                action=StepAction.LAUNCH_REPLACEMENT,
                target=iid,
                params={"instance_type": to_type, "lifecycle": PurchaseOption.ON_DEMAND.value},
                description=f"Launch a {to_type} successor to {iid}",
                compensation=CompensationStep(
                    action=StepAction.TERMINATE_LAUNCHED,
                    target=iid,
                    params={"launch_step_id": f"launch-{n}"},
                    description=f"Terminate the {to_type} successor to {iid}",
                ),
            ),
            stop,
        ]
        terminations.append(terminate)
    return steps + terminations


# --- the window the replicas serve ----------------------------------------------------------------------


@dataclass(frozen=True)
class ServedWindow:
    """The longest sequence (prompt plus output, tokens) a replica must admit, and where it comes from."""

    tokens: int
    source: str


def served_window(snapshot: WorkloadSnapshot) -> ServedWindow | None:
    """The Deployment's `--max-model-len`, else the request log's longest request, else the windows' p99
    prompt plus mean output; None when nothing tells."""
    deployment = snapshot.deployment
    flag = positive_int_flag(deployment.args, "--max-model-len") if deployment is not None else None
    if flag is not None:
        return ServedWindow(flag, "the Deployment's --max-model-len")
    if snapshot.application is not None:
        longest = max(t.total.max for t in snapshot.application.types)
        return ServedWindow(longest, "the longest request of the request log")
    tokens = workload_token_shape(snapshot.windows)
    if tokens.p99_prompt_tokens is not None:
        return ServedWindow(
            round(tokens.p99_prompt_tokens + tokens.mean_output_tokens),
            "the p99 prompt plus the mean output vLLM reported",
        )
    return None


def _kv_tokens(snapshot: WorkloadSnapshot, instance_type: InstanceType) -> int | None:
    """Tokens the workload's model has for KV cache on one replica of `instance_type`; None when the
    capacity model knows the model or the type's GPU not."""
    try:
        model = capacity_model_for(snapshot.workload.model_name)
        return kv_capacity_tokens(config_for_instance(instance_type, model))
    except (KeyError, ValueError):
        return None


def _window_check(
    snapshot: WorkloadSnapshot, window: ServedWindow | None
) -> Callable[[InstanceType], bool] | None:
    """Whether a type's KV cache takes `window`; None when there is no window or the model is unknown."""
    if window is None:
        return None
    try:
        capacity_model_for(snapshot.workload.model_name)
    except KeyError:
        return None

    def holds(candidate: InstanceType) -> bool:
        held = _kv_tokens(snapshot, candidate)
        return held is not None and held >= window.tokens

    return holds


def _window_text(snapshot: WorkloadSnapshot, target: InstanceType, window: ServedWindow | None) -> str:
    if window is None:
        return "; the served window is unknown, so it was not checked against the new KV cache"
    held = _kv_tokens(snapshot, target)
    if held is None:
        return f"; the model's KV cache size on {target.name} is unknown, so the window was not checked"
    return (
        f"; its KV cache holds {held:,} tokens, at least one sequence of the {window.tokens:,}-token window "
        f"({window.source})"
    )


def _window_evidence(window: ServedWindow | None) -> dict[str, float | str]:
    return {"window_tokens": float(window.tokens), "window_source": window.source} if window else {}


# --- across GPU families, on the capacity model ---------------------------------------------------------


def request_shape_for(snapshot: WorkloadSnapshot) -> RequestShape | None:
    """The workload's objective with its own request lengths (its vLLM token counters and prompt-length
    histogram; the default mix when it reports none); None when the workload declares no latency
    objective, since sizing on throughput alone could break it."""
    workload = snapshot.workload
    if workload.slo_ttft_p95_s is None or workload.slo_itl_p95_s is None:
        return None
    tokens = workload_token_shape(snapshot.windows)
    return RequestShape(
        mean_prompt_tokens=max(1.0, tokens.mean_prompt_tokens),
        mean_output_tokens=tokens.mean_output_tokens,
        p95_prompt_tokens=tokens.p95_prompt_tokens,
        p99_prompt_tokens=tokens.p99_prompt_tokens,
        ttft_p95_slo_s=workload.slo_ttft_p95_s,
        itl_p95_slo_s=workload.slo_itl_p95_s,
        shape_source=tokens.source,
    )


PEAK_HISTORY_S = 7 * 86_400.0
"""The request-rate history a peak is read over when it holds this much: a week sees the weekly cycle,
where a day's windows do not (sized on a quiet Sunday, a fleet is short on Monday)."""


@dataclass(frozen=True)
class MeasuredPeak:
    """The p95 of the request rate vLLM counted, and over what."""

    rps: float
    over: str


def vllm_peak_rps(snapshot: WorkloadSnapshot) -> MeasuredPeak | None:
    """The p95 of vLLM's request rate over its request-rate history when that holds a week of
    measurements, else over the recent windows that had replicas; None without either."""
    history = snapshot.request_rate
    if history is not None:
        rates = [v for v in history.values if v is not None]
        if rates and len(rates) * history.interval_seconds >= PEAK_HISTORY_S:
            days = len(rates) * history.interval_seconds / 86_400
            minutes = history.interval_seconds / 60
            return MeasuredPeak(percentile(rates, 95), f"{days:.0f} days of {minutes:.0f}-minute rates")
    recent = [w.request_rate for w in snapshot.windows if w.replicas > 0]
    if not recent:
        return None
    return MeasuredPeak(percentile(recent, 95), f"the {len(recent)} recent windows")


def peak_demand(
    snapshot: WorkloadSnapshot, replicas: list[Instance], current: InstanceType, shape: RequestShape
) -> tuple[float, str] | None:
    """The workload's peak request rate and how it was read: the p95 of vLLM's own request rate over the
    history (`vllm_peak_rps`), else the p95 hour's summed GPU utilization times the current type's full-load
    rate."""
    measured = vllm_peak_rps(snapshot)
    if measured is not None:
        return measured.rps, (
            f"vLLM counted a p95 of {measured.rps:.2f} requests/s over {measured.over} of the "
            f"{len(replicas)} {current.name} replicas"
        )
    busy = peak_busy_gpus(snapshot, replicas)
    if busy is None:
        return None
    try:
        config = config_for_instance(current, capacity_model_for(snapshot.workload.model_name))
    except (KeyError, ValueError):
        return None
    full_rps = max_throughput_rps(config, shape.mean_prompt_tokens, shape.mean_output_tokens)
    if full_rps <= 0:
        return None
    return busy * full_rps, (
        f"With no request rate from vLLM, at their p95 hour the {len(replicas)} {current.name} replicas were "
        f"{busy:.2f} GPUs' worth busy by GPU utilization (which overstates a vLLM server's load), at "
        f"{full_rps:.2f} requests/s per fully busy {current.gpu_model} replica "
        f"{busy * full_rps:.2f} requests/s"
    )


def peak_busy_gpus(snapshot: WorkloadSnapshot, replicas: list[Instance]) -> float | None:
    """p95 over the hours of the replicas' summed GPU utilization, in fully busy replicas."""
    series = [snapshot.series_for(i.instance_id, UtilizationMetric.GPU_UTILIZATION) for i in replicas]
    if any(s is None or not s.values for s in series):
        return None
    hours = min(len(s.values) for s in series if s is not None)
    totals = [sum(s.values[h] for s in series if s is not None) / 100 for h in range(hours)]
    return percentile(totals, 95)


def _across_families(
    snapshot: WorkloadSnapshot,
    replicas: list[Instance],
    current: InstanceType,
    demand: CapacityDemand,
    params: RightSizingParams,
    window: ServedWindow | None,
) -> Proposal | None:
    """A fleet change sized on the capacity model, or None to fall back to same-GPU right-sizing (no
    objective, unknown model, or the best plan keeps the GPU model and the replica count)."""
    workload = snapshot.workload
    shape = request_shape_for(snapshot)
    if shape is None:
        return None
    try:
        capacity_model_for(workload.model_name)
    except KeyError:
        return None
    peak = peak_demand(snapshot, replicas, current, shape)
    if peak is None:
        return None
    peak_rps, peak_text = peak
    holds_window = _window_check(snapshot, window)
    hosts = [
        c
        for c in snapshot.candidate_types
        if c.vcpu >= demand.vcpus
        and c.memory_gib >= demand.memory_gib
        and (holds_window is None or holds_window(c))
    ]
    estimator = CapacityEstimator(profiles=snapshot.capacity_profiles, workload_id=workload.workload_id)
    candidates = sizings(
        peak_rps, params.headroom, type_capacities(hosts, workload.model_name, shape, estimator)
    )
    current_cost = monthly(current.on_demand_hourly_usd) * len(replicas)
    best = cheapest_on_demand(candidates)
    look_ahead = ""
    if workload.stateless and best is not None:
        settled = cheapest_settled(
            candidates,
            peak_rps,
            SpotLookAhead(
                zones=replica_zones(replicas),
                minimum=workload.min_on_demand_instances,
                max_interruption_bucket=params.spot_max_interruption_bucket,
            ),
            budget_usd=current_cost - params.min_monthly_savings_usd,
            current=(current.name, len(replicas)),
        )
        if settled is not None and settled[0] != best:
            best, settled_usd = settled
            look_ahead = (
                f". {workload.name} is stateless, so spot migration follows: of the sizings that already "
                f"save on-demand, {best.instance_type.name} is the cheapest once the replicas above the "
                f"on-demand base that survives losing one zone's spot run on spot "
                f"(${settled_usd:,.0f}/month then)"
            )
    if best is None or (best.instance_type.gpu_model == current.gpu_model and best.replicas == len(replicas)):
        return None
    saving = current_cost - best.monthly_on_demand_usd
    if saving < params.min_monthly_savings_usd:
        return None
    profile = profile_instances(snapshot, replicas)
    assert profile is not None
    reasoning = (
        f"{peak_text}. One {best.instance_type.name} ({best.instance_type.gpu_count}x "
        f"{best.instance_type.gpu_model}) replica serves {best.capacity_rps:.2f} requests/s "
        f"(capacity source: {best.capacity_source}) of {shape.mean_prompt_tokens:.0f}-token prompts "
        f"(p95 {shape.p95_prompt_tokens or shape.mean_prompt_tokens:.0f}) and "
        f"{shape.mean_output_tokens:.0f}-token outputs (request lengths from the "
        f"{shape.shape_source.value}) within the p95 TTFT "
        f"{shape.ttft_p95_slo_s:g} s and p95 ITL {shape.itl_p95_slo_s * 1000:.0f} ms objective, so "
        f"{best.replicas} replica(s) carry the peak with {params.headroom:.0%} headroom: "
        f"${best.monthly_on_demand_usd:,.0f}/month against ${current_cost:,.0f}/month today, the cheapest "
        f"type and count among {len(hosts)} types whose hosts fit the replicas' CPU and memory"
        + _window_text(snapshot, best.instance_type, window)
        + look_ahead
        + ". The new replicas are launched and running before any old one stops; the old ones are "
        "terminated only after verification, and a rollback terminates the new ones and starts the old ones."
    )
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title=f"Move {workload.workload_id} from {len(replicas)}x {current.name} "
        f"to {best.replicas}x {best.instance_type.name}",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(current_cost, 2),
        projected_monthly_cost_usd=round(best.monthly_on_demand_usd, 2),
        confidence=round(_confidence(profile, params) * 0.9, 3),
        risk_level=RiskLevel.MEDIUM,
        steps=_fleet_change_steps(replicas, best),
        evidence={
            **_window_evidence(window),
            "from_type": current.name,
            "to_type": best.instance_type.name,
            "replicas_from": float(len(replicas)),
            "replicas_to": float(best.replicas),
            "peak_rps": round(peak_rps, 3),
            "capacity_rps_per_replica": round(best.capacity_rps, 3),
        },
    )


@dataclass(frozen=True)
class SpotLookAhead:
    """How spot migration will split a stateless workload's replicas: across `zones` zones, never fewer
    than `minimum` on-demand, on types interrupted no more than the bucket allows."""

    zones: int
    minimum: int
    max_interruption_bucket: int

    def monthly_usd(self, sizing: Sizing, peak_rps: float) -> float:
        """What `sizing` costs once spot migration has run on it: the on-demand base that survives losing
        the largest pool at the peak, the rest on spot (all on-demand where spot is not worth it)."""
        it = sizing.instance_type
        if it.spot_hourly_usd is None or not spot_eligible_type(it, self.max_interruption_bucket):
            return sizing.monthly_on_demand_usd
        peak_replicas = max(1, math.ceil(peak_rps / sizing.capacity_rps - 1e-9))
        split = on_demand_base(sizing.replicas, peak_replicas, self.zones, self.minimum)
        return monthly(it.on_demand_hourly_usd) * split.on_demand + monthly(it.spot_hourly_usd) * split.spot


def cheapest_settled(
    candidates: list[Sizing],
    peak_rps: float,
    spot: SpotLookAhead,
    budget_usd: float,
    current: tuple[str, int] | None = None,
) -> tuple[Sizing, float] | None:
    """Among the sizings whose on-demand cost is within `budget_usd` (each step saves on its own) and the
    `current` (type, count), which costs nothing to keep, the one cheapest once spot migration has run,
    with that cost; None when there is none."""
    affordable = [
        s
        for s in candidates
        if s.monthly_on_demand_usd <= budget_usd or (s.instance_type.name, s.replicas) == current
    ]
    priced = [(spot.monthly_usd(s, peak_rps), s) for s in affordable]
    best = min(priced, key=lambda p: (round(p[0], 6), p[1].replicas, p[1].instance_type.name), default=None)
    return (best[1], best[0]) if best is not None else None


def _fleet_change_steps(replicas: list[Instance], target: Sizing) -> list[ExecutionStep]:
    """The new replicas are launched first (capacity goes up before anything stops), each from an old
    replica's launch setup, then the old replicas are stopped; terminating them waits for verification."""
    ordered = sorted(replicas, key=lambda i: i.instance_id)
    to_type = target.instance_type.name
    launches = [
        ExecutionStep(
            step_id=f"launch-{n}",
            action=StepAction.LAUNCH_REPLACEMENT,
            target=ordered[(n - 1) % len(ordered)].instance_id,
            params={"instance_type": to_type, "lifecycle": PurchaseOption.ON_DEMAND.value},
            description=f"Launch {to_type} replica {n} of {target.replicas}",
            compensation=CompensationStep(
                action=StepAction.TERMINATE_LAUNCHED,
                target=ordered[(n - 1) % len(ordered)].instance_id,
                params={"launch_step_id": f"launch-{n}"},
                description=f"Terminate {to_type} replica {n}",
            ),
        )
        for n in range(1, target.replicas + 1)
    ]
    stops: list[ExecutionStep] = []
    terminations: list[ExecutionStep] = []
    for n, instance in enumerate(ordered, start=1):
        stop, terminate = retirement_steps(instance.instance_id, n, f"the new {to_type} replicas")
        stops.append(stop)
        terminations.append(terminate)
    return launches + stops + terminations
