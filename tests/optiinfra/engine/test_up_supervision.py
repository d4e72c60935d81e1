"""`optiinfra up` as a user runs it: killed with SIGKILL it leaves no process listening on its ports
within 10 s, and the next `up` starts cleanly; a foreign server on its engine's port stops it before
Ready instead of being used."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from optiinfra.engine.devserver import ENGINE_PID_FILE
from tests.support.engine_processes import eventually, kill_recorded_engine, listening, none_listening
from tests.support.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 240.0  # imports, migrations, the twin's seeding and backfill: slow on a loaded machine
PORT_SETTINGS = (
    "OPTIINFRA_EMBEDDED_TEMPORAL_PORT",
    "OPTIINFRA_EMBEDDED_TEMPORAL_UI_PORT",
    "OPTIINFRA_API_PORT",
    "OPTIINFRA_EMBEDDED_CLOUD_PORT",
    "OPTIINFRA_EMBEDDED_KUBE_PORT",
)


class Up:
    """One `optiinfra up` process; its stdout and stderr go to files the test reads."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.stdout, self.stderr = logs.with_suffix(".out"), logs.with_suffix(".err")
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "optiinfra.cli.main", "up"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # the test's signals only: not the terminal's, not pytest's
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "Ready." not in self.stdout.read_text():
            if self.process.poll() is not None:
                pytest.fail(f"`optiinfra up` exited with {self.process.returncode}: {self.stderr_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`optiinfra up` was not ready in {READY_TIMEOUT_S:.0f}s: {self.stderr_tail()}")
            time.sleep(0.5)

    def stderr_tail(self) -> str:
        return self.stderr.read_text()[-3000:]

    def kill(self) -> None:
        """SIGKILL to `up` alone (not its group): none of its own cleanup runs."""
        self.process.kill()
        self.process.wait()

    def exit_code(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)


@pytest.fixture
def up_env(tmp_path: Path) -> dict[str, str]:
    """A fresh state dir, every port `up` binds free, and every part embedded (the environment's
    production settings, if any, blanked)."""
    env = {name: value for name, value in os.environ.items() if name != "TEMPORAL_ADDRESS"}
    env |= {setting: str(free_port()) for setting in PORT_SETTINGS}
    env |= {
        "OPTIINFRA_STATE_DIR": str(tmp_path / "state"),
        "OPTIINFRA_PROFILE": "embedded",
        "OPTIINFRA_TEMPORAL_ADDRESS": "",
        "OPTIINFRA_AWS_ENDPOINT_URL": "",
        "OPTIINFRA_DATABASE_URL": "",
        "OPTIINFRA_CLICKHOUSE_URL": "",
        "OPTIINFRA_QDRANT_URL": "",
        "PYTHONUNBUFFERED": "1",  # "Ready." reaches the file when printed
    }
    return env


@pytest.fixture
def start_up(up_env: dict[str, str], tmp_path: Path) -> Iterator[list[Up]]:
    """Started `up` processes, all killed at the end with the engine the state dir records, whatever
    the test's outcome."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()
    kill_recorded_engine(Path(up_env["OPTIINFRA_STATE_DIR"]) / ENGINE_PID_FILE)


def ports_of(env: dict[str, str]) -> list[int]:
    return [int(env[setting]) for setting in PORT_SETTINGS]


@pytest.mark.timeout(2 * READY_TIMEOUT_S + 120)
def test_a_killed_up_leaves_no_listener_and_the_next_up_starts_cleanly(
    up_env: dict[str, str], start_up: list[Up], tmp_path: Path
) -> None:
    first = Up(up_env, tmp_path / "first")
    start_up.append(first)
    first.wait_ready()
    assert all(listening(port) for port in ports_of(up_env))

    first.kill()
    assert eventually(lambda: none_listening(ports_of(up_env)), timeout_s=10), [
        port for port in ports_of(up_env) if listening(port)
    ]

    second = Up(up_env, tmp_path / "second")
    start_up.append(second)
    second.wait_ready()
    assert "Temporal:    127.0.0.1:" + up_env["OPTIINFRA_EMBEDDED_TEMPORAL_PORT"] in second.stdout.read_text()
    second.process.send_signal(signal.SIGINT)
    assert second.exit_code(timeout_s=60) == 0
    assert none_listening(ports_of(up_env))
    assert not (Path(up_env["OPTIINFRA_STATE_DIR"]) / ENGINE_PID_FILE).exists()


@pytest.mark.timeout(READY_TIMEOUT_S + 60)
def test_up_stops_before_ready_when_a_foreign_server_holds_its_engine_port(
    up_env: dict[str, str], start_up: list[Up], tmp_path: Path
) -> None:
    port = int(up_env["OPTIINFRA_EMBEDDED_TEMPORAL_PORT"])
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        up = Up(up_env, tmp_path / "up")
        start_up.append(up)
        assert up.exit_code(timeout_s=READY_TIMEOUT_S) != 0
    assert "Ready" not in up.stdout.read_text()
    assert f"port {port} is taken by another process" in up.stderr.read_text()
    assert none_listening(ports_of(up_env))
