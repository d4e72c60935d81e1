"""The `optiinfra bench` commands as typer commands: `bench twin` measures the prefix hit rate of the trace
it is given (and says so when the trace has none), a bad trace is one line, the options' defaults are the
benchmarks' own, and `bench cli-startup` prints both timings."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

from optiinfra.bench import kvtier, plan, scaling
from optiinfra.bench.options import parse_fractions, parse_names
from optiinfra.cli.main import app
from optiinfra.cli.startup import StartupFigures, Timing, render
from optiinfra.sim.traffic.generator import AZURE_CODE_TRACE, MOONCAKE_CONVERSATION_TRACE

TWIN_FAST = ["--requests-sample", "20"]


def _twin(*args: str) -> Result:
    return CliRunner().invoke(app, ["bench", "twin", *args, *TWIN_FAST])


def _printed(result: Result, figure: str) -> str:
    """The value printed beside `figure` in the bench's `name value` lines."""
    line = next(line for line in result.stdout.splitlines() if line.split(maxsplit=1)[0] == figure)
    return line.split(maxsplit=1)[1]


def _seen_before_share(lines: list[str]) -> float:
    """The unlimited-cache hit rate as the share of hash ids that some earlier request already had."""
    seen: set[int] = set()
    asked = hits = 0
    for line in lines:
        hash_ids = json.loads(line)["hash_ids"]
        asked += len(hash_ids)
        hits += sum(1 for hash_id in hash_ids if hash_id in seen)
        seen.update(hash_ids)
    return hits / asked


def test_the_prefix_hit_rate_is_the_given_traces_own(shared_data_dir: Path, tmp_path: Path) -> None:
    """Another Mooncake trace than the bundled one (every third of its first 3,000 requests, so another
    prefix reuse) gives its own hit rate, not the bundled trace's 36.6%."""
    lines = (shared_data_dir / MOONCAKE_CONVERSATION_TRACE).read_text().splitlines()[:3000:3]
    trace = tmp_path / "sparse_conversations.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    expected = _seen_before_share(lines)
    assert abs(expected - 0.366) > 0.05  # a different trace indeed

    result = _twin(
        "--trace", str(trace), "--data-dir", str(shared_data_dir), "--json", str(tmp_path / "f.json")
    )
    assert result.exit_code == 0, result.output
    assert float(_printed(result, "prefix_hit_rate_unlimited")) == pytest.approx(expected, abs=5e-5)
    assert _printed(result, "prefix_trace") == str(trace)
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["trace_format"] == "mooncake" and figures["prefix_trace"] == str(trace)


def test_a_trace_without_prefixes_says_so_in_one_line(shared_data_dir: Path, tmp_path: Path) -> None:
    rows = (shared_data_dir / AZURE_CODE_TRACE).read_text().splitlines()[:1500]
    trace = tmp_path / "azure_head.csv"
    trace.write_text("\n".join(rows) + "\n")
    result = _twin("--trace", str(trace), "--data-dir", str(shared_data_dir))
    assert result.exit_code == 0, result.output
    said = [line for line in result.stdout.splitlines() if "prefix information" in line]
    assert said == [f"prefix_hit_rate_unlimited  none: {trace} has no prefix information (Mooncake hash_ids)"]
    assert _printed(result, "prefix_trace") == "none"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("when,how_many\n0,1\n", "not a ServeGen aggregate, Azure or Mooncake trace"),
        ('{"timestamp": 0, "input_length": 1}\n', "missing output_length, hash_ids"),
        ("", "not a ServeGen aggregate, Azure or Mooncake trace"),
    ],
)
def test_a_bad_trace_is_one_line_and_exit_2(tmp_path: Path, content: str, says: str) -> None:
    trace = tmp_path / "bad.trace"
    trace.write_text(content)
    for result in (_twin("--trace", str(trace)), _twin("--trace", str(tmp_path / "missing.jsonl"))):
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert says in _twin("--trace", str(trace)).stderr
    assert (
        f"no trace at {tmp_path / 'missing.jsonl'}"
        in _twin("--trace", str(tmp_path / "missing.jsonl")).stderr
    )


def _defaults(*path: str) -> dict[str, Any]:
    command: Any = get_command(app)
    for name in path:
        command = command.commands[name]
    return {param.name: param.default for param in command.params}


def test_the_options_defaults_are_the_benchmarks_own() -> None:
    assert {key: _defaults("bench", "plan")[key] for key in ("fleets", "seed", "workers")} == {
        "fleets": plan.DEFAULT_FLEETS,
        "seed": plan.DEFAULT_SEED,
        "workers": plan.DEFAULT_WORKERS,
    }
    found = _defaults("bench", "scaling")
    assert (found["seed"], found["peak_replicas"], found["tick"]) == (
        scaling.DEFAULT_SEED,
        scaling.DEFAULT_PEAK_REPLICAS,
        scaling.TICK_S,
    )
    assert (found["burst_sigma"], found["agent_scan"]) == (scaling.BURST_SIGMA, scaling.AGENT_SCAN_S)
    found = _defaults("bench", "kvtier")
    assert parse_fractions(found["fractions"]) == pytest.approx(kvtier.FRACTIONS)
    assert parse_names(found["policies"]) == kvtier.POLICIES
    assert (found["bandwidth_blocks"], found["block_kib"] * 1024, found["rounds"]) == (
        kvtier.BANDWIDTH_BLOCKS,
        kvtier.BLOCK_BYTES,
        kvtier.ROUNDS,
    )


def test_fractions_and_names_parse_or_name_the_bad_part() -> None:
    assert parse_fractions(" 0.5, 1/4 ,1") == (0.5, 0.25, 1.0)
    assert parse_names("lru, arc,,") == ("lru", "arc")
    for text, says in (("0.5,x", "'x' is not a fraction"), ("1/0", "'1/0'"), ("1.5", "in (0, 1]")):
        with pytest.raises(ValueError, match=says.replace("(", r"\(").replace("]", r"\]")):
            parse_fractions(text)


def test_cli_startup_prints_the_timings_their_difference_and_ratio_and_an_api_call() -> None:
    result = CliRunner().invoke(app, ["bench", "cli-startup", "--runs", "1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(maxsplit=1)[0] for line in lines] == [
        "interpreter",
        "optiinfra",
        "difference",
        "ratio",
        "API",
    ]
    assert lines[0].endswith("python -c pass") and lines[1].endswith("python -m optiinfra.cli.main --help")
    assert lines[4].endswith("python -m optiinfra.cli.main workloads list")
    api_call = float(lines[4].split("median ")[1].split(" s")[0])
    assert api_call > float(lines[0].split("median ")[1].split(" s")[0])
    baseline, cli = (float(line.split("median ")[1].split(" s")[0]) for line in lines[:2])
    assert 0 < baseline < cli  # the CLI starts the interpreter too
    assert _printed_figure(lines[2]) == pytest.approx(cli - baseline, abs=2e-3)
    assert _printed_figure(lines[3]) == pytest.approx(cli / baseline, rel=0.06)


def _printed_figure(line: str) -> float:
    return float(line.split()[1].rstrip("sx"))


def test_startup_figures_compare_medians() -> None:
    figures = StartupFigures(
        Timing(("py", "-c", "pass"), (0.02, 0.01, 0.03)), Timing(("py", "-m", "x"), (0.5, 0.3))
    )
    assert figures.overhead_s == pytest.approx(0.38) and figures.ratio == pytest.approx(20.0)
    text = render(figures)
    assert "median 0.020 s, min 0.010 s, 3 run(s): python -c pass" in text
    assert "+0.380 s" in text and "20.0x" in text
