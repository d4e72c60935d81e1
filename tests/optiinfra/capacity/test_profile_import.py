"""Result files of vllm bench serve, GuideLLM and inference-perf (written by the tools themselves, run
against a local server) read into profile points; anything else is refused in one line."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.capacity.profile_import import ProfileFormatError, parse_profile_text, read_profile_file
from optiinfra.cli.main import app

PROFILES = Path(__file__).parent / "fixtures" / "profiles"


def test_vllm_bench_serve_gives_its_concurrency_lengths_and_percentiles() -> None:
    found = read_profile_file(PROFILES / "vllm_bench_serve.json")
    assert (found.tool, found.model_id, found.gpu, found.tp) == (
        "vllm-bench-serve",
        "meta-llama/Llama-3.1-8B-Instruct",
        "H100",
        1,
    )
    (point,) = found.points
    raw = json.loads((PROFILES / "vllm_bench_serve.json").read_text())
    assert point.concurrency == raw["max_concurrency"]
    assert point.mean_prompt_tokens == raw["total_input_tokens"] / raw["completed"]
    assert point.ttft_p95_ms == raw["p95_ttft_ms"] and point.tpot_mean_ms == raw["mean_tpot_ms"]
    assert point.itl_p95_ms == raw["p95_itl_ms"]


def test_vllm_bench_serve_with_default_flags_has_no_p95_but_still_a_point() -> None:
    (point,) = read_profile_file(PROFILES / "vllm_bench_serve_default_flags.json").points
    assert point.ttft_p95_ms is None and point.ttft_p99_ms is not None


def test_appended_vllm_results_are_one_point_per_run() -> None:
    run = (PROFILES / "vllm_bench_serve.json").read_text().strip()
    other = json.loads(run) | {"max_concurrency": 16, "request_throughput": 40.0}
    found = parse_profile_text(run + "\n" + json.dumps(other) + "\n")
    assert [p.concurrency for p in found.points] == [8, 16]


def test_guidellm_uses_its_inter_token_latency_as_tpot_and_the_measured_concurrency() -> None:
    found = read_profile_file(PROFILES / "guidellm_report.json")
    raw = json.loads((PROFILES / "guidellm_report.json").read_text())
    assert found.tool == "guidellm" and found.model_id == "meta-llama/Llama-3.1-8B-Instruct"
    assert len(found.points) == len(raw["benchmarks"]) == 3
    metrics = raw["benchmarks"][1]["metrics"]
    point = found.points[1]
    assert point.tpot_mean_ms == metrics["inter_token_latency_ms"]["successful"]["mean"]
    assert point.concurrency == metrics["request_concurrency"]["successful"]["mean"]
    assert point.ttft_p95_ms == metrics["time_to_first_token_ms"]["successful"]["percentiles"]["p95"]
    assert [round(p.concurrency) for p in found.points] == [1, 8, 31]


def test_inference_perf_latencies_in_seconds_become_milliseconds() -> None:
    found = read_profile_file(PROFILES / "inference_perf_stage_0.json")
    raw = json.loads((PROFILES / "inference_perf_stage_0.json").read_text())
    (point,) = found.points
    assert found.model_id is None
    assert point.ttft_mean_ms == pytest.approx(
        raw["successes"]["latency"]["time_to_first_token"]["mean"] * 1000
    )
    assert point.concurrency == raw["load_summary"]["concurrency"]
    summary = read_profile_file(PROFILES / "inference_perf_summary.json").points[0]
    assert summary.concurrency > 1  # no concurrency in a summary: Little's law on what it measured


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json at all", "line 1 is not JSON"),
        ('{"hello": 1}', "not a result file"),
        ('{"request_throughput": 1.0, "mean_ttft_ms": 10}', "completed is missing"),
        ('{"benchmarks": []}', "no benchmarks"),
        ('{"successes": {}, "load_summary": {}}', "needs successes.latency"),
        ("[1, 2]", "line 1 is not a JSON object"),
    ],
)
def test_anything_else_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProfileFormatError, match=reason):
        parse_profile_text(text)


def test_the_cli_prints_a_profile_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(
        app, ["profile", "import", str(PROFILES / "guidellm_report.json"), "--gpu", "H100", "--print"]
    )
    assert printed.exit_code == 0, printed.output
    profile = json.loads(printed.output)
    assert (profile["gpu"], profile["model"], profile["tool"]) == ("NVIDIA H100", "Llama-3.1-8B", "guidellm")
    no_gpu = runner.invoke(
        app, ["profile", "import", str(PROFILES / "inference_perf_stage_0.json"), "--print"]
    )
    assert no_gpu.exit_code == 2 and "pass --gpu" in no_gpu.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{")
    refused = runner.invoke(app, ["profile", "import", str(garbage), "--gpu", "H100", "--print"])
    assert refused.exit_code == 2
    assert refused.output.strip().count("\n") == 0 and "Traceback" not in refused.output
