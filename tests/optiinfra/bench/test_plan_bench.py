import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.plan import run_plan_bench
from optiinfra.cli.main import app

JSON_KEYS = {
    "agent_usd_month",
    "optimal_usd_month",
    "current_usd_month",
    "agent_cost_over_optimal",
    "agent_rule_breaks",
    "current_over_optimal",
    "savings_ratio_vs_optimal",
    "naive_ratio_vs_optimal",
    "slo_violations",
    "fleets",
    "seed",
    "fleets_count",
    "elapsed_s",
}
WORKLOAD_KEYS = {
    "current_usd_month",
    "naive_usd_month",
    "agent_usd_month",
    "optimal_usd_month",
    "agent_slo_attainment",
    "optimal_slo_attainment",
    "agent_plan",
    "optimal_plan",
    "agent_approved",
    "agent_rule_breaks",
}
COST_STRATEGIES = {"right_sizing", "spot_migration", "autoscaling_policy", "reserved_capacity"}


def test_two_fleets_plan_every_workload_and_write_the_figures(shared_data_dir: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "plan.json"
    argv = ["--fleets", "2", "--seed", "3", "--json", str(json_path), "--data-dir", str(shared_data_dir)]
    argv.append("--no-peers")  # AIBrix's optimizer is the peer tier's (tests/peers)
    invoked = CliRunner().invoke(app, ["bench", "plan", *argv, "--workers", "2"])
    assert invoked.exit_code == 0, invoked.output
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= JSON_KEYS
    assert figures["fleets_count"] == 2 and len(figures["fleets"]) == 2 and figures["seed"] == 3
    assert 0.0 <= figures["naive_ratio_vs_optimal"] < figures["savings_ratio_vs_optimal"]
    assert figures["agent_cost_over_optimal"] == pytest.approx(
        figures["agent_usd_month"] / figures["optimal_usd_month"] - 1, abs=1e-4
    )
    assert figures["current_over_optimal"] >= 0.2 - 1e-4  # current fleets cost at least 1.2x the optimum
    workloads = [row for fleet in figures["fleets"] for row in fleet["workloads"]]
    assert all(2 <= len(fleet["workloads"]) <= 4 for fleet in figures["fleets"])
    assert 0 <= figures["slo_violations"] <= len(workloads)
    for row in workloads:
        assert row.keys() >= WORKLOAD_KEYS
        # The live agent approves only what saves; a plan that keeps the optimum's rules is no cheaper.
        assert row["agent_usd_month"] <= row["current_usd_month"] + 0.01
        assert row["naive_usd_month"] <= row["current_usd_month"] + 0.01
        if row["agent_rule_breaks"] == 0:
            assert row["optimal_usd_month"] - 0.01 <= row["agent_usd_month"]
        else:
            assert row["agent_first_rule_break"].startswith("hour ")
        assert set(row["agent_approved"]) <= COST_STRATEGIES
        assert (row["agent_usd_month"] < row["current_usd_month"]) == bool(row["agent_approved"])
        assert 0.0 <= row["agent_slo_attainment"] <= 1.0
    assert figures["slo_violations"] == sum(row["agent_slo_attainment"] < 0.99 for row in workloads)
    assert figures["agent_rule_breaks"] == sum(row["agent_rule_breaks"] for row in workloads)
    assert any(row["agent_approved"] for row in workloads)
    assert figures["elapsed_s"] > 0
    assert "savings_ratio_vs_optimal" in invoked.stdout and "elapsed_s" in invoked.stdout
    # Progress on stderr as it goes: each workload as it is planned, then the total time.
    progress = invoked.stderr.splitlines()
    assert "Building 2 twin fleets" in progress[0] and f"Planning {len(workloads)} workloads" in progress[1]
    assert [line.split("] ", 1)[1].split(" (")[0] for line in progress[2:-1]] == [
        f"Planned {done} of {len(workloads)} workloads" for done in range(1, len(workloads) + 1)
    ]
    assert "Done in" in progress[-1]

    # The fleets come from one seeded stream and each replay has its own seed: the first fleet, planned
    # alone in this process, is the same as planned beside another by two workers.
    alone = tmp_path / "alone.json"
    argv[argv.index("--json") + 1] = str(alone)
    argv[argv.index("--fleets") + 1] = "1"
    planned = CliRunner().invoke(app, ["bench", "plan", *argv, "--workers", "1"])
    assert planned.exit_code == 0, planned.output
    assert json.loads(alone.read_text())["fleets"] == figures["fleets"][:1]


def test_the_bench_refuses_to_run_without_the_real_data(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["bench", "plan", "--fleets", "1", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: ") and "the shared data set is missing" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    no_fleet = CliRunner().invoke(app, ["bench", "plan", "--fleets", "0"])
    assert no_fleet.exit_code == 2 and "--fleets" in no_fleet.stderr
    assert len(no_fleet.stderr.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="at least one fleet"):
        run_plan_bench(tmp_path, fleets=0)
