"""`optiinfra capacity estimate`: the answer, its source, and one-line errors."""

import json

from typer.testing import CliRunner

from optiinfra.cli.main import app

ARGS = [
    "capacity",
    "estimate",
    "--model",
    "meta-llama/Llama-3.1-8B-Instruct",
    "--isl",
    "2000",
    "--osl",
    "200",
]


def test_the_json_answer_names_its_source_and_forcing_the_roofline_changes_it() -> None:
    runner = CliRunner()
    best = runner.invoke(app, [*ARGS, "--gpu", "H100", "--concurrency", "32", "--json"])
    prior = runner.invoke(
        app, [*ARGS, "--gpu", "H100", "--concurrency", "32", "--json", "--source", "roofline"]
    )
    assert best.exit_code == prior.exit_code == 0, best.output + prior.output
    measured, modelled = json.loads(best.output), json.loads(prior.output)
    assert measured["source"] == "silicon" and modelled["source"] == "roofline"
    # aiconfigurator: TPOT 15.6 ms at batch 32 for 2,000/200 tokens on one H100.
    assert abs(measured["tpot_ms"] - 15.6) / 15.6 < 0.06
    assert measured["tpot_p95_ms"] >= measured["tpot_ms"] and measured["ttft_p95_ms"] >= measured["ttft_ms"]
    assert measured["requests_per_s"] > 0
    on_a10g = json.loads(runner.invoke(app, [*ARGS, "--gpu", "A10G", "--json"]).output)
    assert on_a10g["source"] == "roofline"


def test_bad_input_gets_one_line_and_exit_code_2() -> None:
    runner = CliRunner()
    for extra in (["--gpu", "TPU"], ["--gpu", "H100", "--tp", "0"]):
        result = runner.invoke(app, [*ARGS, *extra])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    unknown_model = runner.invoke(
        app, ["capacity", "estimate", "--gpu", "H100", "--model", "x/y", "--isl", "1", "--osl", "1"]
    )
    assert unknown_model.exit_code == 2 and "no capacity model" in unknown_model.output
    too_big = runner.invoke(
        app,
        [
            "capacity",
            "estimate",
            "--gpu",
            "L4",
            "--model",
            "meta-llama/Llama-3.1-70B-Instruct",
            "--isl",
            "1",
            "--osl",
            "1",
        ],
    )
    assert too_big.exit_code == 2 and "weights need" in too_big.output
