import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.plan import main, run_plan_bench
from optiinfra.cli.main import app

JSON_KEYS = {
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
}


def test_two_fleets_plan_every_workload_and_write_the_figures(shared_data_dir: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "plan.json"
    argv = ["--fleets", "2", "--seed", "3", "--json", str(json_path), "--data-dir", str(shared_data_dir)]
    invoked = CliRunner().invoke(app, ["bench", "plan", *argv, "--workers", "1"])
    assert invoked.exit_code == 0, invoked.output
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= JSON_KEYS
    assert figures["fleets_count"] == 2 and len(figures["fleets"]) == 2 and figures["seed"] == 3
    assert 0.0 < figures["naive_ratio_vs_optimal"] < figures["savings_ratio_vs_optimal"] <= 1.0 + 1e-9
    workloads = [row for fleet in figures["fleets"] for row in fleet["workloads"]]
    assert all(2 <= len(fleet["workloads"]) <= 4 for fleet in figures["fleets"])
    assert 0 <= figures["slo_violations"] <= len(workloads)
    for row in workloads:
        assert row.keys() >= WORKLOAD_KEYS
        assert (
            row["optimal_usd_month"] - 0.01
            <= row["agent_usd_month"]
            <= row["naive_usd_month"] + 0.01
            <= row["current_usd_month"] + 0.02
        )
        assert 0.0 <= row["agent_slo_attainment"] <= 1.0
    assert figures["slo_violations"] == sum(row["agent_slo_attainment"] < 0.99 for row in workloads)
    assert 0 < figures["elapsed_s"] < 60
    assert "savings_ratio_vs_optimal" in invoked.output and "elapsed_s" in invoked.output

    in_parallel = tmp_path / "parallel.json"
    argv[argv.index("--json") + 1] = str(in_parallel)
    assert main([*argv, "--workers", "2"]) == 0
    parallel = json.loads(in_parallel.read_text())
    assert {**parallel, "elapsed_s": 0} == {**figures, "elapsed_s": 0}


def test_the_bench_refuses_to_run_without_the_real_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--fleets", "1", "--data-dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert "the shared data set is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--fleets", "0"])
    with pytest.raises(ValueError, match="at least one fleet"):
        run_plan_bench(tmp_path, fleets=0)
