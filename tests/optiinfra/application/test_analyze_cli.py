"""`optiinfra analyze application` on the real Azure code trace: the printed report and the figures it
writes with --json."""

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.cli.main import app


def test_the_azure_code_trace_through_the_cli(shared_data_dir: Path, tmp_path: Path) -> None:
    trace = shared_data_dir / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv"
    json_path = tmp_path / "application.json"
    invoked = CliRunner().invoke(
        app,
        ["analyze", "application", "--log", str(trace), "--max-long-share", "0.09", "--json", str(json_path)],
    )
    assert invoked.exit_code == 0, invoked.output

    with trace.open() as handle:
        rows = [
            (int(r["ContextTokens"]), int(r["GeneratedTokens"]), r["TIMESTAMP"])
            for r in csv.DictReader(handle)
        ]
    span = (
        datetime.fromisoformat(rows[-1][2][:26]) - datetime.fromisoformat(rows[0][2][:26])
    ).total_seconds()
    factor = 30 * 86400 / span
    # --max-long-share 0.09: the 8.0% of code requests with long answers fit the bound, so all of them go.
    routed = [(c, g) for c, g, _ in rows]
    all_in, all_out = sum(c for c, _, _ in rows), sum(g for _, g, _ in rows)
    routed_in, routed_out = sum(c for c, _ in routed), sum(g for _, g in routed)

    figures = json.loads(json_path.read_text())
    assert figures["log"]["requests"] == len(rows) == 8819
    assert figures["log"]["types"][0]["request_type"] == "code"
    routing = figures["routing"]
    assert (routing["current_model"], routing["cheap_model"]) == ("gpt-4o", "gpt-4o-mini")
    assert routing["routed_requests"] == len(routed)
    assert routing["share"] == pytest.approx(len(routed) / len(rows))
    all_current = (all_in * 2.50 + all_out * 10.00) / 1e6 * factor
    split = (
        (all_in - routed_in) * 2.50 + (all_out - routed_out) * 10.00 + routed_in * 0.15 + routed_out * 0.60
    )
    assert routing["monthly_cost_all_current_usd"] == pytest.approx(all_current, rel=1e-6)
    assert routing["monthly_cost_split_usd"] == pytest.approx(split / 1e6 * factor, rel=1e-6)
    assert routing["monthly_savings_upper_bound_usd"] == pytest.approx(
        all_current - split / 1e6 * factor, rel=1e-6
    )
    assert routing["long_requests"] == sum(g > 64 for _, g in routed)
    assert routing["types"][0]["prompt_limit"] == 7680

    context = figures["context"]
    assert (context["current_window"], context["recommended_window"]) == (128_000, 8192)
    assert context["types"][0]["total_p95_tokens"] == 7343
    assert context["truncated_requests"] == sum(c + g > 8192 for c, g, _ in rows)
    assert context["monthly_savings_usd"] == 0.0
    assert figures["efficiency"]["long_short_requests"] == sum(c > 2048 and g <= 20 for c, g, _ in rows)
    assert figures["rag"]["note"].startswith("no RAG tuning")

    assert f"{len(routed) / len(rows):.2%} of requests" in invoked.output
    assert "128,000 -> 8,192 tokens" in invoked.output
    assert f"savings: at most ${routing['monthly_savings_upper_bound_usd']:,.0f}/month" in invoked.output


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("at,model,context_tokens,generated_tokens,prompt\n")
    invoked = CliRunner().invoke(app, ["analyze", "application", "--log", str(log)])
    assert invoked.exit_code == 1 and "no text" in invoked.output
    invoked = CliRunner().invoke(app, ["analyze", "application", "--log", str(log), "--model", "gpt-9"])
    assert invoked.exit_code == 1 and "the price table lists gpt-4o" in invoked.output


def test_a_quality_sample_file_confirms_the_route(shared_data_dir: Path, tmp_path: Path) -> None:
    trace = shared_data_dir / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv"
    sample = tmp_path / "sample.jsonl"
    line = {"at": "2023-11-16T18:20:00Z", "request_type": "code", "cheap_model": "gpt-4o-mini"}
    sample.write_text(
        "".join(
            json.dumps({**line, "context_tokens": 1500 + i, "verdict": "no_worse"}) + "\n" for i in range(80)
        )
    )
    json_path = tmp_path / "application.json"
    args = ["analyze", "application", "--log", str(trace), "--max-long-share", "0.09"]
    invoked = CliRunner().invoke(app, [*args, "--quality", str(sample), "--json", str(json_path)])
    assert invoked.exit_code == 0, invoked.output
    routing = json.loads(json_path.read_text())["routing"]
    (code,) = routing["types"]
    assert (code["quality"], code["compared"], code["worse"]) == ("confirmed", 80, 0)
    assert routing["monthly_savings_confirmed_usd"] == pytest.approx(
        routing["monthly_savings_upper_bound_usd"]
    )
    assert "quality sample: confirmed, 0 of 80 worse" in invoked.output

    sample.write_text(json.dumps({**line, "context_tokens": 10, "verdict": "better"}) + "\n")
    invoked = CliRunner().invoke(app, [*args, "--quality", str(sample)])
    assert invoked.exit_code == 1 and f"{sample}:1: verdict" in invoked.output
    invoked = CliRunner().invoke(app, [*args, "--quality", str(tmp_path / "missing.jsonl")])
    assert invoked.exit_code == 1 and "cannot read" in invoked.output
