import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.scaling import load_trace, measurable_slo, run_scaling_bench
from optiinfra.cli.main import app
from optiinfra.sim.twin.fleet import TtftItlSlo

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
    invoked = CliRunner().invoke(
        app,
        [
            "bench",
            "scaling",
            *argv,
            "--tick",
            "30",
            "--peak-replicas",
            "12",
            "--no-agent",
            "--no-peers",
            "--quiet",
        ],
    )
    assert invoked.exit_code == 0, invoked.output
    assert invoked.stderr == ""  # --quiet: no progress, the figures alone
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= {
        *POLICIES,
        "kpa_default",
        "kpa_sweep",
        "kpa_setting",
        "mape_prophet",
        "wape_prophet",
        "mase_prophet",
        "mape_baseline",
        "wape_baseline",
        "baseline_method",
        "forecast",
        "seed",
        "elapsed_s",
    }
    for policy in (*POLICIES, "kpa_default"):
        assert figures[policy].keys() >= POLICY_KEYS | {"launches"}
        assert 0.0 <= figures[policy]["slo_attainment"] <= 1.0
        assert figures[policy]["cost_usd"] == pytest.approx(figures[policy]["gpu_hours"] * 1.861, rel=1e-3)
    oracle = figures["oracle"]["gpu_hours"]
    assert all(oracle <= figures[policy]["gpu_hours"] for policy in POLICIES)
    assert figures["static"]["slo_attainment"] == 1.0 and figures["oracle"]["slo_attainment"] == 1.0
    assert figures["static"]["gpu_hours"] == pytest.approx(figures["static"]["max_replicas"] * 72, rel=1e-6)
    # The sweep covers targets, windows and delays; `kpa` is its cheapest setting at ours' attainment or
    # better.
    sweep = figures["kpa_sweep"]
    assert len(sweep) == 4 * 3 * 3
    assert all(
        row.keys() >= {"target", "stable_window_s", "panic_window_s", "scale_down_delay_s", *POLICY_KEYS}
        for row in sweep
    )
    ours = figures["ours"]["slo_attainment"]
    reaching = [row for row in sweep if row["slo_attainment"] >= ours]
    assert figures["kpa_reaches_ours"] == bool(reaching)
    if reaching:
        cheapest = min(reaching, key=lambda row: row["gpu_hours"])
        assert figures["kpa"]["gpu_hours"] == cheapest["gpu_hours"]
        assert figures["kpa_setting"]["target"] == cheapest["target"]
    # The twin's replicas are the silicon-measured reference's, judged as vLLM's histograms show them: the
    # 3 s TTFT objective at its 2.5 s bucket bound, the 100 ms ITL one at its own bound.
    settings = figures["settings"]
    assert settings["truth"] == "silicon"
    assert (settings["slo_read_at_ttft_s"], settings["slo_read_at_itl_s"]) == (2.5, 0.1)
    assert settings["true_capacity_rps"] != settings["planner_capacity_rps"]
    assert settings["true_capacity_rps_at_declared_slo"] >= settings["true_capacity_rps"]
    for policy in (*POLICIES, "kpa_default"):  # the bucket bound is the stricter reading
        assert figures[policy]["slo_attainment"] <= figures[policy]["slo_attainment_declared"]
    # A smooth daily cycle is easy to follow: the adaptive policies cost far less than the static fleet.
    assert ours >= 0.97 and figures["kpa"]["slo_attainment"] >= 0.97
    assert figures["ours"]["gpu_hours"] < figures["static"]["gpu_hours"]
    assert figures["baseline_method"] in {"seasonal_naive", "holt_winters"}
    assert figures["wape_prophet"] > 0 and figures["wape_baseline"] > 0 and figures["mase_baseline"] > 0
    assert figures["trace"] == str(trace) and figures["days"] == pytest.approx(3.0)
    for line in ("ours", "oracle", "kpa_default", "WAPE", "goal: ours meets the SLO", "elapsed_s"):
        assert line in invoked.output


def test_a_one_day_trace_skips_the_forecasts_that_need_more_history_and_runs_the_live_agent(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    """Holt-Winters needs two days: on one day of history it is skipped with the reason, as the live agent
    skips it on a young workload, and the rest of the bench runs, the live agent's decision included (run
    every four hours here; the bench's default is the agent's own hour)."""
    trace = synthetic_trace(tmp_path / "day.csv", days=1)
    result = run_scaling_bench(
        shared_data_dir,
        trace=trace,
        tick_s=30,
        peak_replicas=8,
        kpa_utilizations=(0.7,),
        kpa_windows=((180.0, 60.0),),
        kpa_delays=(300.0,),
        agent_scan_s=4 * 3600.0,
        dynamo=(),
    )
    assert "needs two seasons" in result.scores.skipped["holt_winters"]
    agent = result.outcomes["agent"]
    assert agent.extra["scans"] == 6 and agent.windows == 24 * 60
    assert 0.0 < agent.slo_attainment <= 1.0 and agent.gpu_hours >= result.outcomes["oracle"].gpu_hours
    assert {"agent_slo_attainment_at_least_99pct", "agent_within_15pct_of_oracle_gpu_hours"} <= set(
        result.goals()
    )
    assert result.scores.baseline_method == "seasonal_naive"
    assert result.outcomes["ours"].windows == 24 * 60
    # The agent's Kubernetes autoscaler: sized at each scan, moving the count between scans.
    hpa = result.outcomes["agent_hpa"]
    assert hpa.extra["scans"] == 6 and hpa.windows == 24 * 60
    assert hpa.extra["target_running_per_pod_mean"] > 0
    assert hpa.launches > agent.launches
    assert "agent_hpa_slo_attainment_at_least_99pct" in result.goals()


def test_the_bench_refuses_to_run_without_the_real_data(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["bench", "scaling", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: ") and "the shared data set is missing" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    for option, value in (("--peak-replicas", "0"), ("--tick", "0"), ("--tick", "7")):
        refused = CliRunner().invoke(app, ["bench", "scaling", option, value, "--data-dir", str(tmp_path)])
        assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.output
        assert option in refused.stderr or "tick must divide" in refused.stderr
    with pytest.raises(ValueError, match="divide"):
        run_scaling_bench(tmp_path, tick_s=7.0)


def test_the_real_trace_meets_the_slo_for_less_than_the_published_reactive_autoscaler(
    shared_data_dir: Path,
) -> None:
    """On the real trace (with a small KPA sweep: the full one is the bench's to run), ours stays near the
    bench's 99% goal (98.7% measured on the silicon truth, which the README reports as not met) for fewer
    GPU-hours than AIBrix's published KPA setting, and above the oracle's."""
    result = run_scaling_bench(
        shared_data_dir,
        kpa_utilizations=(0.7, 0.8),
        kpa_windows=((180.0, 60.0),),
        kpa_delays=(300.0,),
        agent_scan_s=None,
        dynamo=(),
    )
    ours, kpa_default, oracle = (result.outcomes[name] for name in ("ours", "kpa_default", "oracle"))
    assert result.days == pytest.approx(14.0)
    assert ours.slo_attainment >= 0.985
    assert oracle.gpu_hours < ours.gpu_hours < kpa_default.gpu_hours < result.outcomes["static"].gpu_hours
    prophet, baseline = result.scores.prophet, result.scores.baseline
    assert prophet is not None and baseline is not None and prophet.wape < baseline.wape


def test_the_objective_is_read_at_the_histogram_bucket_bound_not_above_it() -> None:
    assert measurable_slo(TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1)) == TtftItlSlo(
        ttft_p95_s=2.5, itl_p95_s=0.1
    )
    assert measurable_slo(TtftItlSlo(ttft_p95_s=10.0, itl_p95_s=0.12)) == TtftItlSlo(
        ttft_p95_s=10.0, itl_p95_s=0.1
    )
    with pytest.raises(ValueError, match="smallest histogram bucket"):
        measurable_slo(TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.005))


def test_one_servegen_clients_own_series_is_a_trace_too(tmp_path: Path) -> None:
    """A client's `chunk-N-trace.csv` (no header; idle windows at rate 0 with no distribution) replays as a
    trace no policy was tuned on; a file with no traffic is refused."""
    client = tmp_path / "chunk-7-trace.csv"
    client.write_text("0,0,0,,0,0\n600,2.5,1.3,Gamma,0.6,0.67\n1200,4.0,1.1,Gamma,0.8,0.31\n")
    windows = load_trace(client, days=None)
    assert [(w.start_s, w.duration_s, w.rate_rps) for w in windows] == [
        (0.0, 600.0, 0.0),
        (600.0, 600.0, 2.5),
        (1200.0, 600.0, 4.0),
    ]
    idle = tmp_path / "chunk-8-trace.csv"
    idle.write_text("0,0,0,,0,0\n600,0,0,,0,0\n")
    with pytest.raises(ValueError, match="carries no traffic"):
        load_trace(idle, days=None)
