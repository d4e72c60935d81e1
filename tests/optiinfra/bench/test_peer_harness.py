"""The peer harness without the peers: environments that are missing or built from another lock are refused
with the command to run, the JSON-lines protocol against a real subprocess, and the translation of our
capacity figures into each peer's request."""

import os
import sys
from pathlib import Path

import pytest

from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.sizing import RequestShape, TypeCapacity
from optiinfra.bench.peers.aibrix_optimizer import solve_request
from optiinfra.bench.peers.dynamo_planner import DynamoSetting, planner_start
from optiinfra.bench.peers.environment import (
    AIBRIX,
    DYNAMO,
    SYNCED_MARKER,
    Peer,
    PeerEnvironmentError,
    peer_python,
)
from optiinfra.bench.peers.process import PeerError, PeerProcess
from optiinfra.bench.plan_optimal import on_demand_candidates
from optiinfra.capacity import config_for_instance
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Workload
from optiinfra.sim.twin.fleet import TtftItlSlo

ECHO_ADAPTER = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    op = request.get("op")
    if op == "quit":
        sys.stderr.write("leaving on request\\n")
        sys.exit(3)
    if op == "garbage":
        print("not json", flush=True)
    elif op == "fail":
        print(json.dumps({"error": "the peer refused"}), flush=True)
    else:
        print(json.dumps({"echo": request}), flush=True)
"""


class _Peer(Peer):
    """A peer whose folder is a test's."""

    def __init__(self, folder: Path) -> None:
        super().__init__(name="echo", package="echo", description="an echo")
        object.__setattr__(self, "_folder", folder)

    @property
    def folder(self) -> Path:
        return Path(object.__getattribute__(self, "_folder"))


@pytest.fixture
def echo(tmp_path: Path) -> tuple[Peer, Path]:
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "adapter.py").write_text(ECHO_ADAPTER)
    (folder / "requirements.lock").write_text("echo==1.2.3\n")
    peer = _Peer(folder)
    envs = tmp_path / "envs"
    (envs / "echo" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, envs / "echo" / "bin" / "python")
    (envs / "echo" / SYNCED_MARKER).write_text(peer.lock_digest() + "\n")
    return peer, envs


def test_the_lock_pins_each_peers_version() -> None:
    assert DYNAMO.version == "1.6.1" and AIBRIX.version == "0.8.0"
    for peer in (DYNAMO, AIBRIX):
        assert peer.adapter.is_file()
        pins = [line for line in peer.lock.read_text().splitlines() if line and not line.startswith(" ")]
        assert all("==" in line for line in pins if not line.startswith("#"))


def test_a_missing_or_stale_environment_names_the_command_to_run(
    echo: tuple[Peer, Path], tmp_path: Path
) -> None:
    peer, envs = echo
    assert peer_python(peer, envs) == envs.resolve() / "echo" / "bin" / "python"
    with pytest.raises(PeerEnvironmentError, match="optiinfra bench peers --setup"):
        peer_python(peer, tmp_path / "nowhere")
    peer.lock.write_text("echo==1.2.4\n")
    with pytest.raises(PeerEnvironmentError, match="built from another lock"):
        peer_python(peer, envs)
    assert peer.version == "1.2.4"


def test_the_protocol_answers_refuses_and_reports_a_dead_adapter(echo: tuple[Peer, Path]) -> None:
    peer, envs = echo
    with PeerProcess(peer, envs) as process:
        assert process.ask({"op": "hello", "n": 1}) == {"echo": {"op": "hello", "n": 1}}
        with pytest.raises(PeerError, match="echo: the peer refused"):
            process.ask({"op": "fail"})
        with pytest.raises(PeerError, match="not JSON"):
            process.ask({"op": "garbage"})
        with pytest.raises(PeerError, match="leaving on request"):
            process.ask({"op": "quit"})


def test_aibrix_is_given_our_capacity_as_its_profile_and_never_a_dominated_type() -> None:
    catalog = PriceCatalog.load_default()
    capacities = [
        TypeCapacity(instance_type=catalog.get(name, "us-east-1"), capacity_rps=rps)
        for name, rps in (("g6e.xlarge", 2.0), ("g5.xlarge", 0.9), ("g5.2xlarge", 0.8), ("g6e.2xlarge", 2.0))
    ]
    demand = WorkloadDemand(
        workload=Workload(
            customer_id="c", workload_id="w", name="w", model_name="m", region="us-east-1", stateless=True
        ),
        shape=RequestShape(
            mean_prompt_tokens=1500.4, mean_output_tokens=180.6, ttft_p95_slo_s=2, itl_p95_slo_s=0.1
        ),
        hourly_rps=(4.0,) * HOURS_PER_DAY,
        reservations_allowed=True,
    )
    candidates = on_demand_candidates(demand, capacities)
    kept = [c.instance_type.name for c in candidates]
    # g5.2xlarge: less than g5.xlarge for more; g6e.2xlarge: as much as g6e.xlarge for more (on-demand
    # prices only, although this workload could use spot and reservations).
    assert kept == ["g6e.xlarge", "g5.xlarge"]
    request = solve_request(demand, candidates, hour=5)
    assert request["total_rps"] == pytest.approx(demand.required_rps(5))
    profiles = request["profiles"]
    assert isinstance(profiles, list)
    assert profiles[0] == {
        "gpu": "g6e.xlarge",
        "cost": catalog.get("g6e.xlarge", "us-east-1").on_demand_hourly_usd,
        "tputs": [[2.0]],
        "indexes": [[181], [1500]],
    }


def test_dynamo_is_given_the_declared_objective_and_the_engines_limits() -> None:
    catalog = PriceCatalog.load_default()
    model = capacity_model_for("meta-llama/Llama-3.1-8B-Instruct")
    config = config_for_instance(catalog.get("g6e.xlarge", "us-east-1"), model)
    start = planner_start(config, TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1), DynamoSetting(), floor=2)
    assert start["planner"] == {
        "ttft_ms": 3000.0,
        "itl_ms": 100.0,
        "interval_s": 180.0,
        "predictor": "arima",
        "min_replicas": 2,
        "max_step": 8,
        "model": "meta-llama/Meta-Llama-3.1-8B",
        "system": "l40s",
        "tp": 1,
    }
    assert start["engine"]["max_num_batched_tokens"] == 2048 and start["engine"]["max_kv_tokens"] > 100_000
    tight = planner_start(
        config, TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1), DynamoSetting(itl_target_ms=30), 2
    )
    assert tight["planner"]["itl_ms"] == 30
    # Its performance model needs NVIDIA's silicon data: an A10G has none.
    a10g = config_for_instance(catalog.get("g5.xlarge", "us-east-1"), model)
    with pytest.raises(PeerError, match="silicon data for NVIDIA A10G"):
        planner_start(a10g, TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1), DynamoSetting(), 2)
