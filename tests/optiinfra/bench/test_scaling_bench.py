import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.scaling import main, run_scaling_bench
from optiinfra.cli.main import app

POLICY_KEYS = {"slo_attainment", "gpu_hours", "cost_usd"}
POLICIES = ("static", "kpa", "ours", "oracle")


def synthetic_trace(path: Path, days: int = 3) -> Path:
    """A ServeGen-format aggregate: ten-minute windows with a daily cycle between 50 and 250 req/s."""
    rows = ["timestamp_s,total_rate_rps,active_clients"]
    for index in range(days * 144):
        start = index * 600
        rate = 150 - 100 * math.cos(2 * math.pi * start / 86_400) + 10 * math.sin(index * 1.7)
        rows.append(f"{start},{rate:.3f},40")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_short_trace_runs_every_policy_through_the_cli(shared_data_dir: Path, tmp_path: Path) -> None:
    trace = synthetic_trace(tmp_path / "aggregate.csv")
    json_path = tmp_path / "scaling.json"
    argv = ["--trace", str(trace), "--json", str(json_path), "--data-dir", str(shared_data_dir)]
    invoked = CliRunner().invoke(app, ["bench", "scaling", *argv, "--tick", "30", "--peak-replicas", "12"])
    assert invoked.exit_code == 0, invoked.output
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= {
        *POLICIES,
        "mape_prophet",
        "mape_baseline",
        "baseline_method",
        "seed",
        "elapsed_s",
    }
    for policy in POLICIES:
        assert figures[policy].keys() >= POLICY_KEYS
        assert 0.0 <= figures[policy]["slo_attainment"] <= 1.0
        assert figures[policy]["cost_usd"] == pytest.approx(figures[policy]["gpu_hours"] * 1.861, rel=1e-3)
    oracle = figures["oracle"]["gpu_hours"]
    assert all(oracle <= figures[policy]["gpu_hours"] for policy in POLICIES)
    assert figures["static"]["slo_attainment"] == 1.0 and figures["oracle"]["slo_attainment"] == 1.0
    assert figures["static"]["gpu_hours"] == pytest.approx(figures["static"]["max_replicas"] * 72, rel=1e-6)
    # A smooth daily cycle is easy to follow: the adaptive policies cost far less than the static fleet.
    assert figures["ours"]["slo_attainment"] >= 0.97 and figures["kpa"]["slo_attainment"] >= 0.97
    assert figures["ours"]["gpu_hours"] < figures["kpa"]["gpu_hours"] < figures["static"]["gpu_hours"]
    assert figures["baseline_method"] in {"seasonal_naive", "holt_winters"}
    assert figures["mape_prophet"] > 0 and figures["mape_baseline"] > 0
    assert figures["trace"] == str(trace) and figures["days"] == pytest.approx(3.0)
    for line in ("ours", "oracle", "mape_prophet", "goal: ours meets the SLO", "elapsed_s"):
        assert line in invoked.output


def test_the_bench_refuses_to_run_without_the_real_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert "the shared data set is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--peak-replicas", "0"])
    with pytest.raises(ValueError, match="divide"):
        run_scaling_bench(tmp_path, tick_s=7.0)


def test_the_real_trace_meets_the_slo_for_less_than_the_reactive_autoscaler(shared_data_dir: Path) -> None:
    result = run_scaling_bench(shared_data_dir)
    ours, kpa, oracle = (result.outcomes[name] for name in ("ours", "kpa", "oracle"))
    assert result.days == pytest.approx(14.0)
    assert ours.slo_attainment >= 0.99
    assert oracle.gpu_hours < ours.gpu_hours < kpa.gpu_hours < result.outcomes["static"].gpu_hours
    assert result.goals()["ours_gpu_hours_at_most_kpa_tuned_to_ours_attainment"]
    assert result.scores.prophet < result.scores.baseline
