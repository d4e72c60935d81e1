"""Each peer's adapter on a small input: its answer parsed, turned into decisions and replayed by the bench
like any policy or plan, with the peer's version reported."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.cost.commitments import CommitmentPolicy
from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.sizing import RequestShape, TypeCapacity
from optiinfra.bench.peers.aibrix_optimizer import aibrix_plan
from optiinfra.bench.peers.dynamo_planner import DynamoPlannerPolicy, DynamoSetting, planner_start
from optiinfra.bench.peers.environment import AIBRIX, DYNAMO
from optiinfra.bench.peers.process import PeerError, PeerProcess
from optiinfra.bench.plan_optimal import optimal_plan
from optiinfra.bench.scaling import run_scaling_bench
from optiinfra.capacity import config_for_instance
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cli.main import app
from optiinfra.domain.fleet import Workload
from optiinfra.sim.twin.fleet import TtftItlSlo
from tests.optiinfra.bench.test_scaling_bench import synthetic_trace

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def _demand(minimum: int = 0) -> WorkloadDemand:
    rates = tuple(1.0 + 9.0 * (hour in range(9, 18)) for hour in range(HOURS_PER_DAY))
    return WorkloadDemand(
        workload=Workload(
            customer_id="c",
            workload_id="w",
            name="w",
            model_name=MODEL,
            region="us-east-1",
            min_on_demand_instances=minimum,
        ),
        shape=RequestShape(
            mean_prompt_tokens=1000, mean_output_tokens=200, ttft_p95_slo_s=2.0, itl_p95_slo_s=0.1
        ),
        hourly_rps=rates,
    )


def _capacities() -> list[TypeCapacity]:
    catalog = PriceCatalog.load_default()
    return [
        TypeCapacity(instance_type=catalog.get(name, "us-east-1"), capacity_rps=rps)
        for name, rps in (("g6e.xlarge", 2.0), ("g5.xlarge", 0.9), ("g6.xlarge", 0.7), ("g5.2xlarge", 0.8))
    ]


def test_aibrix_answers_a_mix_that_carries_every_hour_and_the_optimum_is_no_dearer(peer_envs: Path) -> None:
    demand = _demand(minimum=3)
    capacities = _capacities()
    with PeerProcess(AIBRIX, peer_envs) as process:
        assert process.ask({"op": "version"})["aibrix"] == AIBRIX.version == "0.8.0"
        found = aibrix_plan(process, demand, capacities)
        with pytest.raises(PeerError, match="unknown op"):
            process.ask({"op": "nonsense"})
    plan = found.plan
    assert plan.strategy == "aibrix-melange"
    # g5.2xlarge carries less than g5.xlarge for more: it is never offered.
    assert "g5.2xlarge" not in plan.describe()
    for hour in range(HOURS_PER_DAY):
        carried = sum(a.capacity_rps * a.on_demand[hour] for a in plan.allocations)
        assert carried >= demand.required_rps(hour) - 1e-9
        assert sum(a.on_demand[hour] for a in plan.allocations) >= 3
    # A quiet hour's 1.25 req/s (1.0 plus headroom) takes two g6.xlarge (1.4 req/s for $1.61/h, less than
    # one g6e.xlarge): raised to the workload's minimum of 3.
    assert found.raised_hours == HOURS_PER_DAY - 9
    on_demand_only = demand.model_copy(update={"reservations_allowed": False})
    exact = optimal_plan(on_demand_only, capacities, CommitmentPolicy())
    assert exact.plan.monthly_cost_usd <= plan.monthly_cost_usd + 1e-6


def test_dynamos_planner_scales_with_the_load_it_is_shown(peer_envs: Path) -> None:
    instance = PriceCatalog.load_default().get("g6e.xlarge", "us-east-1")
    config = config_for_instance(instance, capacity_model_for(MODEL))
    start = planner_start(config, TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1), DynamoSetting("constant"), 2)
    with PeerProcess(DYNAMO, peer_envs) as process:
        assert process.ask({"op": "version"})["ai-dynamo"] == DYNAMO.version == "1.6.1"
        policy = DynamoPlannerPolicy(
            process, start, mean_prompt_tokens=2000, mean_output_tokens=100, initial_replicas=2
        )
        targets = []
        for step in range(1, 41):
            now = step * 60.0
            rate = 2.0 if step <= 20 else 30.0
            policy.observe_tick(now, 0.0, 2, 0.0, arrived=rate * 60.0)
            targets.append(policy.decide(now))
        assert policy.finish()["scaling_events"] >= 1
    assert policy.ticks == 40 // 3  # one tick per 180 s adjustment interval
    assert targets[19] == 2 and targets[-1] > 4


def test_the_scaling_bench_replays_dynamos_planner(shared_data_dir: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "scaling.json"
    result = run_scaling_bench(
        shared_data_dir,
        trace=synthetic_trace(tmp_path / "aggregate.csv", days=1),
        tick_s=30,
        peak_replicas=8,
        kpa_utilizations=(0.7,),
        kpa_windows=((180.0, 60.0),),
        kpa_delays=(300.0,),
        agent_scan_s=None,
        dynamo=(DynamoSetting("constant"), DynamoSetting("constant", itl_target_ms=30.0)),
        json_path=json_path,
    )
    figures = json.loads(json_path.read_text())
    dynamo = figures["dynamo_planner"]
    assert dynamo["version"] == "1.6.1" and dynamo["windows"] == 24 * 60
    assert dynamo.keys() >= {"slo_attainment", "gpu_hours", "cost_usd", "launches", "planner_ticks"}
    assert dynamo["gpu_hours"] > 0 and dynamo["planner_ticks"] == pytest.approx(86_400 / 180, abs=1)
    assert len(figures["dynamo_sweep"]) == 2 and figures["dynamo_versions"]["ai-dynamo"] == "1.6.1"
    # A tighter ITL target makes its planner hold more replicas.
    loose, tight = (row["gpu_hours"] for row in figures["dynamo_sweep"])
    assert tight > loose
    assert result.outcomes["dynamo_planner_best"].slo_attainment >= dynamo["slo_attainment"]


def test_the_plan_bench_plans_with_aibrix(shared_data_dir: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "plan.json"
    argv = ["--fleets", "1", "--json", str(json_path), "--data-dir", str(shared_data_dir), "--workers", "1"]
    planned = CliRunner().invoke(app, ["bench", "plan", *argv])
    assert planned.exit_code == 0, planned.output
    figures = json.loads(json_path.read_text())
    peer = figures["aibrix_melange"]
    assert peer["version"] == "0.8.0" and peer["usd_month"] > 0
    workloads = [row for fleet in figures["fleets"] for row in fleet["workloads"]]
    assert peer["usd_month"] == pytest.approx(sum(row["aibrix_usd_month"] for row in workloads), abs=0.05)
    assert peer["slo_violations"] == sum(row["aibrix_slo_attainment"] < 0.99 for row in workloads)
    for row in workloads:
        # On-demand only, the exact optimum is no dearer than either planner.
        assert row["optimal_on_demand_usd_month"] <= row["aibrix_usd_month"] + 0.01
        assert row["optimal_on_demand_usd_month"] <= row["agent_on_demand_usd_month"] + 0.01
        assert "spot" not in row["aibrix_plan"] and "spot" not in row["agent_on_demand_plan"]
