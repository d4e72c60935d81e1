"""Autoscaling policy: min and max from the quietest and busiest hours, cooldowns from the traffic, steps
whose compensation puts the group back as it was."""

import math
import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from agents.cost.autoscaling import (
    POLICY_NAME,
    VLLM_POLICY_NAME,
    AutoscalingParams,
    analyze_autoscaling,
    gpu_utilization_policy,
    vllm_signal,
)
from agents.cost.pricing import HOURS_PER_MONTH
from agents.cost.strategies import analyze_cost
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import (
    PurchaseOption,
    RecommendationType,
    RiskLevel,
    StepAction,
    UtilizationMetric,
)
from optiinfra.domain.fleet import Instance, ScalingGroupState, ScalingMetric, ScalingPolicy, WorkloadSnapshot
from optiinfra.domain.performance import RequestRateHistory
from optiinfra.domain.recommendation import Proposal
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.seed import generate_utilization
from tests.agents.snapshots import NOW, snapshot

GROUP = "acme-chat"
G6_XLARGE_HOURLY = 0.8048


def _daily(mean: float, amplitude: float, peak_hour: int = 15) -> Callable[[int], float]:
    return lambda h: mean + amplitude * math.cos(2 * math.pi * (h % 24 - peak_hour) / 24)


def _group_snapshot(
    gpu: Callable[[int], float],
    *,
    count: int = 4,
    hours: int = 14 * 24,
    min_on_demand: int = 0,
    group: ScalingGroupState | None = None,
) -> WorkloadSnapshot:
    """`count` g6.xlarge replicas in one group at min = max = desired = count, each at `gpu(hour)`."""
    base = snapshot(instance_type="g6.xlarge", count=count, gpu=50, gpu_memory=80, hours=hours)
    ids = [i.instance_id for i in base.instances]
    start_hour = base.series[0].start.hour
    for series in base.series:
        if series.metric is UtilizationMetric.GPU_UTILIZATION:
            series.values = [gpu(start_hour + h) for h in range(hours)]
    base.workload.min_on_demand_instances = min_on_demand
    base.scaling_group = group or ScalingGroupState(
        name=GROUP,
        min_size=count,
        max_size=count,
        desired_capacity=count,
        default_cooldown=300,
        instance_ids=ids,
    )
    return base


def _proposal(found: Proposal | str) -> Proposal:
    assert isinstance(found, Proposal), found
    return found


def test_flat_traffic_has_nothing_to_scale() -> None:
    found = analyze_autoscaling(_group_snapshot(lambda _: 62.0))
    assert isinstance(found, str)
    assert "below the $50 bar" in found


def test_a_daily_cycle_sets_min_from_the_trough_and_max_from_the_peak() -> None:
    # 4 replicas between 10% and 60%: 0.4 to 2.4 busy replicas, i.e. 1 to 4 replicas at 70%.
    found = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25))))

    assert found.type is RecommendationType.AUTOSCALING_POLICY
    assert found.risk_level is RiskLevel.MEDIUM
    assert (found.evidence["quiet_hour_replicas"], found.evidence["busy_hour_replicas"]) == (1.0, 4.0)
    assert (found.evidence["min_size"], found.evidence["max_size"]) == (1.0, 5.0)
    update, put = found.steps
    assert update.params == {"min_size": "1", "max_size": "5", "default_cooldown": "600"}
    policy = ScalingPolicy.model_validate_json(put.params["policy"])
    assert policy == gpu_utilization_policy(GROUP, AutoscalingParams())
    assert policy.metric == ScalingMetric(
        namespace="CWAgent",
        metric_name="nvidia_smi_utilization_gpu",
        dimensions={"AutoScalingGroupName": GROUP},
        statistic="Average",
    )
    assert (policy.target_value, policy.estimated_instance_warmup, policy.disable_scale_in) == (
        70.0,
        600,
        False,
    )


def test_savings_are_the_peak_fleet_minus_each_hours_need() -> None:
    found = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25))))
    needs = [
        max(1, math.ceil(4 * _daily(35, 25)(h) / 100 / 0.7 - 1e-9)) for h in range(24)
    ]  # the cycle repeats exactly, so every hour's p95 is its value
    current = 4 * G6_XLARGE_HOURLY * HOURS_PER_MONTH
    projected = sum(needs) * G6_XLARGE_HOURLY * HOURS_PER_MONTH / 24
    assert found.current_monthly_cost_usd == pytest.approx(current, abs=0.01)
    assert found.projected_monthly_cost_usd == pytest.approx(projected, abs=0.01)
    assert found.estimated_monthly_savings_usd == pytest.approx(current - projected, abs=0.01)


def test_in_a_mixed_group_the_replicas_above_the_on_demand_base_are_priced_as_spot() -> None:
    plain = _group_snapshot(_daily(35, 25))
    mixed = plain.model_copy(deep=True)
    assert mixed.scaling_group is not None
    mixed.scaling_group.on_demand_base_capacity = 2
    mixed.scaling_group.spot_instance_types = ["g6.xlarge"]
    spot_hourly = mixed.instance_types["g6.xlarge"].spot_hourly_usd
    assert spot_hourly is not None and spot_hourly < G6_XLARGE_HOURLY
    found = _proposal(analyze_autoscaling(mixed))
    needs = [max(1, math.ceil(4 * _daily(35, 25)(h) / 100 / 0.7 - 1e-9)) for h in range(24)]

    def hourly(replicas: int) -> float:
        return min(2, replicas) * G6_XLARGE_HOURLY + max(0, replicas - 2) * spot_hourly

    assert found.current_monthly_cost_usd == pytest.approx(hourly(4) * HOURS_PER_MONTH, abs=0.01)
    projected = sum(hourly(n) for n in needs) * HOURS_PER_MONTH / 24
    assert found.projected_monthly_cost_usd == pytest.approx(projected, abs=0.01)
    plain_saving = _proposal(analyze_autoscaling(plain)).estimated_monthly_savings_usd
    assert 0 < found.estimated_monthly_savings_usd < plain_saving


def test_min_respects_the_on_demand_floor() -> None:
    found = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25), min_on_demand=3)))
    assert found.evidence["min_size"] == 3.0
    assert found.steps[0].params["min_size"] == "3"


def test_a_higher_target_needs_fewer_replicas_at_the_peak() -> None:
    found = _proposal(
        analyze_autoscaling(_group_snapshot(_daily(35, 25)), AutoscalingParams(target_gpu_utilization=85))
    )
    assert found.evidence["busy_hour_replicas"] == 3.0  # 2.4 busy replicas at 85% need 3
    assert found.evidence["max_size"] == 4.0


def test_spiky_traffic_waits_longer_before_scaling_in() -> None:
    rng = random.Random(3)
    jumps = [rng.choice([-15.0, 0.0, 15.0]) for _ in range(14 * 24 + 48)]
    calm = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25))))
    spiky = _proposal(analyze_autoscaling(_group_snapshot(lambda h: max(0.0, _daily(35, 20)(h) + jumps[h]))))

    assert calm.evidence["scale_in_cooldown_s"] == 600.0
    assert spiky.evidence["scale_in_cooldown_s"] == 1800.0
    assert float(spiky.evidence["hourly_variability"]) > 0.25 > float(calm.evidence["hourly_variability"])
    assert spiky.steps[0].params["default_cooldown"] == "1800"


def test_compensation_restores_the_group_and_deletes_a_new_policy() -> None:
    update, put = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25)))).steps

    assert (update.action, put.action) == (StepAction.UPDATE_SCALING_GROUP, StepAction.PUT_SCALING_POLICY)
    assert update.target == put.target == GROUP
    assert update.compensation is not None and put.compensation is not None
    assert update.compensation.action is StepAction.UPDATE_SCALING_GROUP
    assert update.compensation.params == {
        "min_size": "4",
        "max_size": "4",
        "desired_capacity": "4",
        "default_cooldown": "300",
    }
    assert put.compensation.action is StepAction.DELETE_SCALING_POLICY
    assert put.compensation.params == {"policy_name": POLICY_NAME}


def test_compensation_puts_back_an_earlier_policy_of_the_same_name() -> None:
    earlier = gpu_utilization_policy(GROUP, AutoscalingParams(target_gpu_utilization=50))
    base = _group_snapshot(_daily(35, 25))
    assert base.scaling_group is not None
    base.scaling_group.policies = [earlier]
    _, put = _proposal(analyze_autoscaling(base)).steps

    assert put.compensation is not None
    assert put.compensation.action is StepAction.PUT_SCALING_POLICY
    assert ScalingPolicy.model_validate_json(put.compensation.params["policy"]) == earlier


def test_a_group_already_scaling_this_way_is_left_alone() -> None:
    params = AutoscalingParams()
    proposed = _proposal(analyze_autoscaling(_group_snapshot(_daily(35, 25)))).steps[0].params
    base = _group_snapshot(_daily(35, 25))
    assert base.scaling_group is not None
    base.scaling_group = base.scaling_group.model_copy(
        update={
            "min_size": int(proposed["min_size"]),
            "max_size": int(proposed["max_size"]),
            "default_cooldown": int(proposed["default_cooldown"]),
            "policies": [gpu_utilization_policy(GROUP, params)],
        }
    )
    found = analyze_autoscaling(base, params)
    assert isinstance(found, str) and "already scales this way" in found


def test_reasons_when_there_is_nothing_to_analyze() -> None:
    no_group = _group_snapshot(_daily(35, 25))
    no_group.scaling_group = None
    assert "does not run in an Auto Scaling group" in str(analyze_autoscaling(no_group))

    three_days = analyze_autoscaling(_group_snapshot(_daily(35, 25), hours=3 * 24))
    assert isinstance(three_days, str) and "72 hours of GPU utilization history" in three_days

    stepped = _group_snapshot(_daily(35, 25))
    assert stepped.scaling_group is not None
    stepped.scaling_group.other_policies = ["step-up"]
    assert "already scales by other policies (step-up)" in str(analyze_autoscaling(stepped))


def test_the_cost_agent_ranks_the_autoscaling_proposal() -> None:
    result = analyze_cost(_group_snapshot(_daily(35, 25)))
    assert [p.type for p in result.proposals] == [RecommendationType.AUTOSCALING_POLICY]
    plain = snapshot(instance_type="g5.xlarge", count=2, gpu=70, gpu_memory=70)
    assert any("does not run in an Auto Scaling group" in note for note in analyze_cost(plain).notes)


def test_the_demo_support_bot_is_an_autoscaling_story_only() -> None:
    """Critical (no spot), on the cheapest type that holds its model (nothing to right-size), pinned at
    its peak of 4 while its traffic swings: only an autoscaling policy, keeping its floor of two."""
    fleet = demo_fleet()
    demo = fleet.deployment("support-bot")
    ids = {
        d.workload.workload_id: [f"i-{d.workload.workload_id}-{n}" for n in range(d.instance_count)]
        for d in fleet.deployments
    }
    start = NOW - timedelta(days=14)
    series = [
        s
        for s in generate_utilization(fleet, ids, start, 14 * 24, 3600, 7)
        if s.instance_id in ids["support-bot"]
    ]
    catalog = PriceCatalog.load_default()
    found = analyze_cost(
        WorkloadSnapshot(
            customer=fleet.customer,
            workload=demo.workload,
            instances=[
                Instance(
                    instance_id=iid,
                    instance_type=demo.instance_type,
                    lifecycle=PurchaseOption.ON_DEMAND,
                    state="running",
                    image_id="ami-1",
                )
                for iid in ids["support-bot"]
            ],
            instance_types={demo.instance_type: catalog.get(demo.instance_type, fleet.region)},
            candidate_types=catalog.types_in(fleet.region),
            series=series,
            collected_at=NOW,
            scaling_group=ScalingGroupState(
                name="demo-support-bot",
                min_size=4,
                max_size=4,
                desired_capacity=4,
                default_cooldown=300,
                instance_ids=ids["support-bot"],
            ),
        )
    )

    assert [p.type for p in found.proposals] == [RecommendationType.AUTOSCALING_POLICY], found.notes
    assert any(n.startswith("right-sizing:") for n in found.notes)
    assert any(n.startswith("spot migration: replicas belong to an Auto Scaling group") for n in found.notes)
    evidence = found.proposals[0].evidence
    assert (evidence["min_size"], evidence["max_size"], evidence["scale_in_cooldown_s"]) == (2.0, 5.0, 600.0)
    assert (evidence["quiet_hour_replicas"], evidence["busy_hour_replicas"]) == (1.0, 4.0)
    assert found.proposals[0].estimated_monthly_savings_usd > 500


def _with_vllm_history(
    found: WorkloadSnapshot,
    rate: Callable[[int], float],
    *,
    days: int = 14,
    model: str = "Qwen/Qwen2.5-7B-Instruct",
) -> WorkloadSnapshot:
    """The workload with a latency objective and vLLM's request rate on the ten-minute grid, `rate(hour)`."""
    start = (NOW - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    values: list[float | None] = [rate(start.hour + index // 6) for index in range(days * 24 * 6)]
    workload = found.workload.model_copy(
        update={"slo_ttft_p95_s": 5.0, "slo_itl_p95_s": 0.5, "model_name": model}
    )
    history = RequestRateHistory(start=start, interval_seconds=600, values=values)
    return found.model_copy(update={"workload": workload, "request_rate": history})


def test_with_an_objective_the_group_scales_on_the_requests_vllm_has_in_flight() -> None:
    """GPU utilization says the group is busy all day (90%); vLLM's request rate against one replica's
    capacity within the objective says how many replicas each hour needs, and the policy tracks vLLM's
    requests in flight at 70% of what a replica carries there."""
    busy_looking = _group_snapshot(_daily(90.0, 5.0))
    quiet_hours = _with_vllm_history(busy_looking, _daily(1.0, 0.8))
    found = analyze_autoscaling(quiet_hours)
    assert isinstance(found, Proposal), found
    assert found.evidence["scaling_signal"] == "vllm_requests_running"
    (put,) = [s for s in found.steps if s.action is StepAction.PUT_SCALING_POLICY]
    policy = ScalingPolicy.model_validate_json(put.params["policy"])
    assert policy.name == VLLM_POLICY_NAME
    assert (policy.metric.namespace, policy.metric.metric_name) == ("CWAgent", "vllm:num_requests_running")
    assert policy.metric.dimensions == {"AutoScalingGroupName": GROUP}
    signal = vllm_signal(quiet_hours, PriceCatalog.load_default().get("g6.xlarge", "us-east-1"))
    assert not isinstance(signal, str)
    assert policy.target_value == pytest.approx(0.7 * signal.in_flight, abs=0.01)
    # The busiest hour (1.8 requests/s) needs what 1.8 / (0.7 x capacity) rounds up to; the GPU figure
    # (four replicas at 90%) would have kept the group near its peak all day.
    assert found.evidence["busy_hour_replicas"] == float(math.ceil(1.8 / (0.7 * signal.capacity_rps) - 1e-9))
    gpu_only = analyze_autoscaling(busy_looking)
    assert (
        isinstance(gpu_only, str)
        or gpu_only.evidence["quiet_hour_replicas"] > found.evidence["quiet_hour_replicas"]
    )


def test_without_an_objective_or_history_the_policy_falls_back_to_gpu_utilization_and_says_why() -> None:
    swinging = _group_snapshot(_daily(40.0, 30.0))
    found = analyze_autoscaling(swinging)
    assert isinstance(found, Proposal) and found.evidence["scaling_signal"] == "gpu_utilization"
    assert "declares no latency objective" in found.reasoning
    young = _with_vllm_history(swinging, _daily(1.0, 0.8), days=2)
    found = analyze_autoscaling(young)
    assert isinstance(found, Proposal) and found.evidence["scaling_signal"] == "gpu_utilization"
    assert "hours of vLLM request-rate history, 168 needed" in found.reasoning


def test_moving_to_the_vllm_policy_deletes_the_gpu_one_and_the_compensation_puts_it_back() -> None:
    base = _group_snapshot(_daily(90.0, 5.0))
    assert base.scaling_group is not None
    group = base.scaling_group.model_copy(
        update={"policies": [gpu_utilization_policy(GROUP, AutoscalingParams())]}
    )
    found = analyze_autoscaling(
        _with_vllm_history(base.model_copy(update={"scaling_group": group}), _daily(1.0, 0.8))
    )
    assert isinstance(found, Proposal)
    assert [s.step_id for s in found.steps] == [
        "update-scaling-group",
        "delete-gpu-policy",
        "put-scaling-policy",
    ]
    delete = found.steps[1]
    assert delete.params["policy_name"] == POLICY_NAME
    assert delete.compensation is not None and delete.compensation.action is StepAction.PUT_SCALING_POLICY
