from datetime import timedelta

import pytest

from agents.application.profile import profile_requests
from agents.cost.rightsizing import (
    SpotLookAhead,
    analyze_right_sizing,
    cheapest_settled,
    request_shape_for,
    vllm_peak_rps,
)
from agents.cost.sizing import Sizing, replica_capacity_rps
from agents.cost.spot_floor import OnDemandBase, on_demand_base, spot_eligible_type
from agents.cost.utilization import percentile
from optiinfra.capacity import config_for_instance, kv_capacity_tokens
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import RecommendationType, RiskLevel, StepAction, StepPhase
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.performance import RequestRateHistory, WorkloadWindow
from optiinfra.domain.recommendation import Proposal
from tests.agents.application.records import records
from tests.agents.cost.plan.fixtures import instance_type
from tests.agents.snapshots import NOW, REGION, snapshot


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([0, 10, 20, 30, 40], 50) == 20
    assert percentile(list(range(101)), 95) == pytest.approx(95)
    with pytest.raises(ValueError, match="empty"):
        percentile([], 95)


def test_oversized_host_with_same_gpu_moves_to_cheapest_fitting_type() -> None:
    # One A10G busy at 60%, but the 32-vCPU host is mostly idle: a smaller g5 host fits.
    found = analyze_right_sizing(
        snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10, memory=8)
    )
    assert isinstance(found, Proposal)
    assert found.type is RecommendationType.RIGHT_SIZING
    catalog = PriceCatalog.load_default()
    target = catalog.get(str(found.evidence["to_type"]), REGION)
    current = catalog.get("g5.8xlarge", REGION)
    assert target.gpu_count == 1 and target.gpu_model == current.gpu_model
    assert found.estimated_monthly_savings_usd == pytest.approx(
        (current.on_demand_hourly_usd - target.on_demand_hourly_usd) * 730 * 2, abs=0.01
    )
    # Cheapest fit: every cheaper g5 must be too small on some axis.
    cheaper = [t for t in catalog.types_in(REGION) if t.gpu_model == current.gpu_model]
    assert all(t.on_demand_hourly_usd >= target.on_demand_hourly_usd or t.vcpu < 4 for t in cheaper)
    assert found.risk_level is RiskLevel.LOW


def test_each_replica_is_replaced_not_restarted() -> None:
    """The successor is launched and running before its replica stops; the stopped replicas are terminated
    only after verification, and every apply step has its compensation."""
    found = analyze_right_sizing(snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10))
    assert isinstance(found, Proposal)
    apply = [s for s in found.steps if s.phase is StepPhase.APPLY]
    assert [s.action for s in apply] == [StepAction.LAUNCH_REPLACEMENT, StepAction.STOP_INSTANCE] * 2
    launch, stop = apply[0], apply[1]
    assert launch.target == stop.target and launch.params["instance_type"] == found.evidence["to_type"]
    assert launch.compensation is not None and launch.compensation.action is StepAction.TERMINATE_LAUNCHED
    assert stop.compensation is not None and stop.compensation.action is StepAction.START_INSTANCE
    assert not any(s.action is StepAction.MODIFY_INSTANCE_TYPE for s in found.steps)
    finalize = [s for s in found.steps if s.phase is StepPhase.FINALIZE]
    assert [s.action for s in finalize] == [StepAction.TERMINATE_INSTANCE] * 2
    assert {s.target for s in finalize} == {s.target for s in apply}
    assert "replaced, not restarted" in found.reasoning


def test_four_gpu_server_with_low_load_drops_gpus_at_medium_risk() -> None:
    found = analyze_right_sizing(snapshot(instance_type="g5.12xlarge", count=3, gpu=18, gpu_memory=20, cpu=8))
    assert isinstance(found, Proposal)
    target = PriceCatalog.load_default().get(str(found.evidence["to_type"]), REGION)
    assert target.gpu_count == 1
    assert found.risk_level is RiskLevel.MEDIUM


def test_gpu_memory_demand_blocks_a_smaller_gpu_count() -> None:
    # 4 GPUs at 20% compute but 60% memory: 57.6 GiB with headroom cannot fit on one 24 GiB A10G.
    found = analyze_right_sizing(snapshot(instance_type="g5.12xlarge", count=1, gpu=20, gpu_memory=50, cpu=8))
    if isinstance(found, Proposal):
        target = PriceCatalog.load_default().get(str(found.evidence["to_type"]), REGION)
        assert target.gpu_memory_gib >= 96 * 0.5 * 1.25
    else:
        assert "no cheaper" in found


def test_busy_workload_is_left_alone() -> None:
    found = analyze_right_sizing(snapshot(instance_type="g5.xlarge", count=2, gpu=85, gpu_memory=80, cpu=70))
    assert isinstance(found, str)
    assert "no cheaper" in found


def test_missing_metrics_mean_no_proposal() -> None:
    snap = snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10)
    snap.series = snap.series[1:]
    assert analyze_right_sizing(snap) == "right-sizing: utilization history is missing for some replica"


def test_short_history_lowers_confidence() -> None:
    full = analyze_right_sizing(snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10))
    short = analyze_right_sizing(
        snapshot(instance_type="g5.8xlarge", count=2, gpu=60, gpu_memory=55, cpu=10, hours=48)
    )
    assert isinstance(full, Proposal) and isinstance(short, Proposal)
    assert short.confidence < full.confidence


def with_objective(found: WorkloadSnapshot, ttft: float = 8.0, itl: float = 0.1) -> WorkloadSnapshot:
    workload = found.workload.model_copy(
        update={
            "slo_ttft_p95_s": ttft,
            "slo_itl_p95_s": itl,
            "model_name": "meta-llama/Llama-3.1-8B-Instruct",
        }
    )
    return found.model_copy(update={"workload": workload})


def test_with_an_objective_the_capacity_model_sizes_across_gpu_families() -> None:
    oversized = with_objective(
        snapshot(instance_type="g5.8xlarge", count=3, gpu=60, gpu_memory=70, cpu=6, memory=9)
    )
    found = analyze_right_sizing(oversized)
    assert isinstance(found, Proposal)
    target = PriceCatalog.load_default().get(str(found.evidence["to_type"]), REGION)
    replicas = int(found.evidence["replicas_to"])
    # The chosen plan carries the peak with headroom within the SLO, and nothing cheaper does.
    shape = request_shape_for(oversized)
    assert shape is not None
    capacity = replica_capacity_rps(target, oversized.workload.model_name, shape)
    assert replicas * capacity >= float(found.evidence["peak_rps"]) * 1.25
    assert found.projected_monthly_cost_usd == pytest.approx(
        target.on_demand_hourly_usd * 730 * replicas, abs=0.01
    )
    assert found.projected_monthly_cost_usd < found.current_monthly_cost_usd
    assert found.risk_level is RiskLevel.MEDIUM


def test_fewer_replicas_launch_the_new_ones_first_and_terminate_the_old_only_after_verification() -> None:
    found = analyze_right_sizing(
        with_objective(snapshot(instance_type="g5.8xlarge", count=4, gpu=30, gpu_memory=70, cpu=6, memory=9))
    )
    assert isinstance(found, Proposal)
    kept = int(found.evidence["replicas_to"])
    assert kept < 4
    actions = [s.action for s in found.steps if s.phase is StepPhase.APPLY]
    assert actions == [StepAction.LAUNCH_REPLACEMENT] * kept + [StepAction.STOP_INSTANCE] * 4
    terminations = [s for s in found.steps if s.phase is StepPhase.FINALIZE]
    stops = [s for s in found.steps if s.action is StepAction.STOP_INSTANCE]
    assert {s.target for s in stops} == {s.target for s in terminations} and len(terminations) == 4
    assert all(s.compensation is not None for s in found.steps if s.phase is StepPhase.APPLY)


def test_more_replicas_of_a_cheaper_type_are_launched_before_anything_stops() -> None:
    found = analyze_right_sizing(
        with_objective(
            snapshot(instance_type="g6e.12xlarge", count=1, gpu=80, gpu_memory=60, cpu=3, memory=3)
        )
    )
    assert isinstance(found, Proposal)
    assert int(found.evidence["replicas_to"]) > 1
    actions = [s.action for s in found.steps]
    assert actions[0] is StepAction.LAUNCH_REPLACEMENT
    assert actions.index(StepAction.STOP_INSTANCE) > actions.index(StepAction.LAUNCH_REPLACEMENT)
    launch = found.steps[0]
    assert launch.compensation is not None and launch.compensation.action is StepAction.TERMINATE_LAUNCHED


def test_without_an_objective_only_the_same_gpu_model_is_considered() -> None:
    found = analyze_right_sizing(
        snapshot(instance_type="g5.8xlarge", count=3, gpu=60, gpu_memory=70, cpu=6, memory=9)
    )
    assert isinstance(found, Proposal)
    assert found.evidence["to_type"] == "g5.xlarge"


def _served(found: WorkloadSnapshot, rate_rps: float) -> WorkloadSnapshot:
    """Two days of vLLM windows at `rate_rps` (1,000-token prompts, 200-token outputs)."""
    windows = [
        WorkloadWindow(
            start=NOW - timedelta(hours=hour),
            seconds=3600,
            replicas=len(found.instances),
            requests=rate_rps * 3600,
            request_rate=rate_rps,
            prompt_tokens=rate_rps * 3600 * 1000,
            generation_tokens=rate_rps * 3600 * 200,
            errors=0,
            preemptions=0,
        )
        for hour in range(1, 49)
    ]
    return found.model_copy(update={"windows": windows})


def test_the_peak_is_the_request_rate_vllm_counted_not_gpu_utilization() -> None:
    """nvidia-smi's 60% busy says nothing of a vLLM server's load: the request rate vLLM counted does."""
    busy_looking = with_objective(
        snapshot(instance_type="g5.8xlarge", count=3, gpu=60, gpu_memory=70, cpu=6, memory=9)
    )
    quiet, loaded = (analyze_right_sizing(_served(busy_looking, rate)) for rate in (0.5, 3.0))
    assert isinstance(quiet, Proposal) and isinstance(loaded, Proposal)
    assert quiet.evidence["peak_rps"] == 0.5 and loaded.evidence["peak_rps"] == 3.0
    assert quiet.reasoning.startswith("vLLM counted a p95 of 0.50 requests/s")
    for found in (quiet, loaded):
        replicas, capacity = (
            int(found.evidence["replicas_to"]),
            float(found.evidence["capacity_rps_per_replica"]),
        )
        assert replicas * capacity >= float(found.evidence["peak_rps"]) * 1.25
    # Without vLLM's rate the GPU utilization is the fallback, and says so.
    fallback = analyze_right_sizing(busy_looking)
    assert isinstance(fallback, Proposal) and "overstates" in fallback.reasoning


def test_a_type_whose_kv_cache_cannot_hold_the_served_window_is_never_proposed() -> None:
    """vLLM will not start with a --max-model-len beyond its KV cache: requests of 60,100 tokens rule out
    the 24 GB GPU (an A10G or L4) that would otherwise carry the load."""
    quiet = _served(
        with_objective(snapshot(instance_type="g5.8xlarge", count=3, gpu=60, gpu_memory=70, cpu=6, memory=9)),
        0.5,
    )
    short = analyze_right_sizing(quiet)
    assert isinstance(short, Proposal) and short.evidence["to_type"] in ("g5.xlarge", "g6.xlarge")
    model = capacity_model_for(quiet.workload.model_name)
    catalog = PriceCatalog.load_default()
    small = catalog.get(str(short.evidence["to_type"]), REGION)
    assert kv_capacity_tokens(config_for_instance(small, model)) < 60_100
    log = profile_requests(records([(60_000, 100)] * 5 + [(1_000, 100)] * 50))
    long = analyze_right_sizing(quiet.model_copy(update={"application": log}))
    assert isinstance(long, Proposal)
    assert long.evidence["window_tokens"] == 60_100.0
    target = catalog.get(str(long.evidence["to_type"]), REGION)
    assert kv_capacity_tokens(config_for_instance(target, model)) >= 60_100
    assert "60,100-token window (the longest request of the request log)" in long.reasoning


def test_on_demand_base_keeps_the_peak_served_after_losing_one_zones_spot() -> None:
    assert on_demand_base(10, peak_replicas=7, zones=3, minimum=0) == OnDemandBase(
        on_demand=1, spot=9, largest_pool=3
    )
    assert on_demand_base(10, peak_replicas=7, zones=2, minimum=0).on_demand == 4  # 6 spot, 3 lost
    assert on_demand_base(10, peak_replicas=7, zones=1, minimum=0).on_demand == 7
    assert on_demand_base(4, peak_replicas=1, zones=3, minimum=2).on_demand == 2  # the minimum holds
    assert on_demand_base(3, peak_replicas=3, zones=3, minimum=0) == OnDemandBase(
        on_demand=3, spot=0, largest_pool=0
    )


def test_a_stateless_workload_is_sized_on_the_cost_once_spot_migration_has_run() -> None:
    """The cheapest type on-demand has no spot worth running; the second cheapest has cheap spot. Of the
    sizings that already save on-demand, the look-ahead keeps the one cheapest once spot has run."""
    no_spot = Sizing(instance_type=instance_type("nospot.x", 1.0), replicas=10, capacity_rps=1.0)
    cheap_spot = Sizing(
        instance_type=instance_type("spot.x", 1.1, spot=0.3, bucket=1), replicas=10, capacity_rps=1.0
    )
    look_ahead = SpotLookAhead(zones=2, minimum=0, max_interruption_bucket=3)
    # Peak 8 replicas of 10 in two zones: 6 on-demand, 4 spot (losing 2 leaves 8).
    assert look_ahead.monthly_usd(cheap_spot, 8.0) == pytest.approx((6 * 1.1 + 4 * 0.3) * 730)
    assert look_ahead.monthly_usd(no_spot, 8.0) == pytest.approx(10 * 730)
    found = cheapest_settled([no_spot, cheap_spot], 8.0, look_ahead, budget_usd=20 * 730)
    assert found is not None and found[0] == cheap_spot
    # A type whose on-demand fleet costs more than the budget (no saving on its own) is not taken.
    assert cheapest_settled([no_spot, cheap_spot], 8.0, look_ahead, budget_usd=10.5 * 730) == (
        no_spot,
        pytest.approx(10 * 730),
    )
    assert cheapest_settled([cheap_spot], 8.0, look_ahead, budget_usd=5 * 730) is None


def test_a_stateless_workload_keeps_a_same_gpu_type_whose_spot_is_worth_running() -> None:
    """g6e.xlarge is cheaper on-demand than g6e.2xlarge but its spot is interrupted too often: a stateless
    workload, whose replicas above the base run on spot, stays; a stateful one moves."""
    catalog = PriceCatalog.load_default()
    small, large = catalog.get("g6e.xlarge", REGION), catalog.get("g6e.2xlarge", REGION)
    assert small.on_demand_hourly_usd < large.on_demand_hourly_usd
    assert spot_eligible_type(large, 3) and not spot_eligible_type(small, 3)
    busy = {"instance_type": "g6e.2xlarge", "count": 2, "gpu": 60, "gpu_memory": 55, "cpu": 10, "memory": 8}
    stateful = analyze_right_sizing(snapshot(**busy, stateless=False))
    assert isinstance(stateful, Proposal) and stateful.evidence["to_type"] == "g6e.xlarge"
    stateless = analyze_right_sizing(snapshot(**busy, stateless=True))
    assert isinstance(stateless, str) and "with cheaper spot" in stateless


def test_the_peak_is_read_over_a_week_of_history_not_a_quiet_day() -> None:
    """A week of ten-minute rates busy on weekdays and quiet on the last day: the peak is the week's p95,
    not the quiet day's; with less than a week of history the recent windows answer."""
    start = NOW - timedelta(days=7)
    values: list[float | None] = [2.0 if n < 6 * 144 else 0.5 for n in range(7 * 144)]
    quiet_day = [
        WorkloadWindow(
            start=NOW - timedelta(minutes=10 * (n + 1)),
            seconds=600,
            replicas=2,
            requests=300,
            request_rate=0.5,
            prompt_tokens=300 * 2000,
            generation_tokens=300 * 200,
            errors=0,
            preemptions=0,
        )
        for n in range(144)
    ]
    base = snapshot(instance_type="g5.xlarge", count=2, gpu=50, gpu_memory=60)
    week = base.model_copy(
        update={
            "windows": quiet_day,
            "request_rate": RequestRateHistory(start=start, interval_seconds=600, values=values),
        }
    )
    found = vllm_peak_rps(week)
    assert found is not None and found.rps == pytest.approx(2.0) and found.over == "7 days of 10-minute rates"
    short = week.model_copy(
        update={"request_rate": RequestRateHistory(start=start, interval_seconds=600, values=values[:144])}
    )
    recent = vllm_peak_rps(short)
    assert recent is not None and recent.rps == pytest.approx(0.5) and recent.over == "the 144 recent windows"
