import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.bench.kvtier import fraction_key, run_kvtier_bench
from optiinfra.cli.main import app
from optiinfra.sim.traffic.generator import MOONCAKE_CONVERSATION_TRACE

POLICIES = ("lru", "arc", "s3fifo", "lru+tinylfu")
SMALL = ["--bandwidth-blocks", "4", "--block-kib", "1024", "--rounds", "1"]
"""Bandwidth passes of 4 MiB: the figures are not meaningful, only their presence and sanity."""


def synthetic_trace(path: Path, requests: int = 400) -> Path:
    """A Mooncake-format trace: conversations that come back with their previous prompt as prefix."""
    rng = random.Random(3)
    conversations: list[list[int]] = []
    next_id = 1
    lines = []
    for index in range(requests):
        if conversations and rng.random() < 0.6:
            chain = rng.choice(conversations)
        else:
            chain = [0]
            conversations.append(chain)
        chain.extend(range(next_id, next_id + rng.randint(1, 5)))
        next_id = chain[-1] + 1
        record = {"timestamp": index * 250, "input_length": len(chain) * 512 - 100, "output_length": 40}
        lines.append(json.dumps({**record, "hash_ids": list(chain)}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_synthetic_trace_through_the_cli(tmp_path: Path) -> None:
    trace = synthetic_trace(tmp_path / "trace.jsonl")
    json_path = tmp_path / "kvtier.json"
    argv = ["--trace", str(trace), "--json", str(json_path), "--scratch", str(tmp_path), *SMALL]
    invoked = CliRunner().invoke(app, ["bench", "kvtier", *argv])
    assert invoked.exit_code == 0, invoked.output
    figures = json.loads(json_path.read_text())
    assert figures.keys() >= {
        "hit_rate",
        "index_ops_per_s",
        "lookup_p50_ms",
        "lookup_p99_ms",
        "host_vs_memcpy",
        "disk_vs_file",
        "host_put_gbps",
        "host_get_gbps",
        "memcpy_gbps",
        "disk_put_gbps",
        "disk_get_gbps",
        "file_write_gbps",
        "file_read_gbps",
        "working_set",
        "capacities",
        "goals",
    }
    keys = {"0.02", "0.05", "0.1", "0.2", "0.333", "0.5", "0.75", "1.0"}
    assert set(figures["hit_rate"]) == {*POLICIES, "belady"}
    for policy, rates in figures["hit_rate"].items():
        assert set(rates) == keys, policy
        assert all(0.0 <= rate < 1.0 for rate in rates.values())
        assert all(rate <= figures["hit_rate"]["belady"][key] + 1e-12 for key, rate in rates.items())
        assert rates["1.0"] == pytest.approx(figures["hit_rate"]["belady"]["1.0"])
        assert rates["0.02"] <= rates["1.0"]
    assert figures["requests"] == 400 and figures["trace"] == str(trace)
    assert figures["capacities"]["1.0"] == figures["working_set"]
    assert figures["index_ops_per_s"] > 0
    assert 0 < figures["lookup_p50_ms"] <= figures["lookup_p99_ms"]
    assert figures["host_vs_memcpy"] > 0 and figures["disk_vs_file"] > 0
    assert figures["host_vs_memcpy"] == pytest.approx(
        min(figures["host_put_gbps"], figures["host_get_gbps"]) / figures["memcpy_gbps"]
    )
    for line in ("belady", "s3fifo", "prefix lookup of 8,192", "memory copy", "plain file", "fsync", "goal"):
        assert line in invoked.output
    assert not list(tmp_path.glob("kvtier-bench-*"))  # the disk files are gone


def test_unlimited_capacity_on_the_real_trace_gives_36_6_percent(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    result = run_kvtier_bench(
        shared_data_dir,
        fractions=(1 / 3, 1.0),
        policies=("lru", "arc"),
        bandwidth_blocks=2,
        block_bytes=1 << 20,
        rounds=1,
        scratch=tmp_path,
    )
    assert result.trace == shared_data_dir / MOONCAKE_CONVERSATION_TRACE
    assert result.requests == 12_031 and result.working_set == 182_790
    assert result.hit_rate["lru"][fraction_key(1.0)] == pytest.approx(0.366, abs=0.001)
    assert result.hit_rate["belady"][fraction_key(1.0)] == pytest.approx(0.366, abs=0.001)
    third = fraction_key(1 / 3)
    assert third == "0.333"
    assert result.hit_rate["lru"][third] <= result.hit_rate["belady"][third]
    assert result.hit_rate["arc"][third] <= result.hit_rate["belady"][third]
    goals = {name: met for name, met, _ in result.goals}
    assert goals["unlimited_hit_rate"]


def test_the_bench_refuses_missing_data_and_bad_options(tmp_path: Path) -> None:
    """Each mistake is one line on stderr and exit code 2, never a traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"timestamp": 0}\n')
    cases = [
        (["--data-dir", str(tmp_path)], "no trace at"),
        (["--trace", str(bad)], f"{bad}:1: missing field"),
        (["--trace", str(bad), "--policies", "mru"], "unknown eviction policy"),
        (["--fractions", "0,1"], "fractions must be in (0, 1], got 0"),
        (["--fractions", "1/0"], "'1/0' is not a fraction"),
    ]
    for args, says in cases:
        invoked = CliRunner().invoke(app, ["bench", "kvtier", *args])
        assert invoked.exit_code == 2, invoked.output
        assert invoked.stderr.startswith("error: ") and says in invoked.stderr
        assert len(invoked.stderr.strip().splitlines()) == 1 and not invoked.stdout
