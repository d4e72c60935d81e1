import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.twin import SERVEGEN_SCALE, detect_trace_format, run_twin_bench
from optiinfra.cli.main import app
from optiinfra.sim.traffic import TraceFormatError
from optiinfra.sim.traffic.generator import AZURE_CODE_TRACE, MOONCAKE_CONVERSATION_TRACE, SERVEGEN_AGGREGATE

JSON_KEYS = {
    "replay_seconds",
    "rows_written",
    "prefix_hit_rate_unlimited",
    "windows",
    "replicas",
    "slo_attainment",
}


def test_one_day_of_servegen_through_the_twin_and_the_pipeline(shared_data_dir: Path, tmp_path: Path) -> None:
    json_path = tmp_path / "bench.json"
    argv = [
        "bench",
        "twin",
        "--data-dir",
        str(shared_data_dir),
        "--days",
        "1",
        "--json",
        str(json_path),
        "--store",
        str(tmp_path / "chdb"),
    ]
    invoked = CliRunner().invoke(app, argv)
    assert invoked.exit_code == 0, invoked.output
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= JSON_KEYS
    assert figures["windows"] == 144  # ten-minute windows
    assert figures["replicas"] >= 2
    assert figures["rows_written"] == 2 * figures["windows"] * figures["replicas"]
    # No --trace: the prefix figure is the bundled Mooncake trace's, and says so.
    assert figures["prefix_hit_rate_unlimited"] == pytest.approx(0.366, abs=0.001)
    assert figures["prefix_trace"] == str(shared_data_dir / MOONCAKE_CONVERSATION_TRACE)
    assert figures["slo_attainment"] == 1.0  # the fleet is sized for the peak
    assert figures["peak_rps"] == pytest.approx(583 * SERVEGEN_SCALE, rel=0.01)
    assert 0 < figures["replay_seconds"] < 60
    assert "replay_seconds" in invoked.stdout
    # Progress goes to stderr as the bench goes, one timed line per stage on a pipe; stdout keeps the figures.
    stages = invoked.stderr.splitlines()
    assert [re.sub(r"^\[\s*[0-9.]+s\] ", "", line).split(" ")[0] for line in stages] == [
        "Loaded",
        "Replaying",
        "Replaying",
        "Done",
    ], invoked.stderr
    assert "Replaying 144 windows (1.0 days)" in stages[1] and "conversation_trace.jsonl" in stages[2]
    assert "Loaded" not in invoked.stdout


def test_a_request_trace_is_detected_and_replayed_with_its_own_token_mix(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    result = run_twin_bench(shared_data_dir, shared_data_dir / AZURE_CODE_TRACE, None, tmp_path / "chdb")
    assert result.trace_format == "azure"
    assert result.scale == 1.0 and result.windows == 58  # 57 minutes in one-minute windows
    assert result.rows_written > 0
    assert result.prefix_hit_rate_unlimited is None and result.prefix_trace is None  # no hash_ids in it


def test_trace_formats_are_told_apart_by_content(shared_data_dir: Path, tmp_path: Path) -> None:
    assert detect_trace_format(shared_data_dir / SERVEGEN_AGGREGATE) == "servegen"
    assert detect_trace_format(shared_data_dir / AZURE_CODE_TRACE) == "azure"
    assert detect_trace_format(shared_data_dir / MOONCAKE_CONVERSATION_TRACE) == "mooncake"
    other = tmp_path / "other.csv"
    other.write_text("when,how_many\n0,1\n")
    with pytest.raises(TraceFormatError):
        detect_trace_format(other)
