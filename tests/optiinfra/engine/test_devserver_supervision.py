"""The embedded engine is supervised: it dies with the process that started it, a pid file names it while
it runs, an engine of ours left behind by a dead owner is replaced, and a port held by anything else is
refused instead of used."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from optiinfra.engine.devserver import (
    DevServerError,
    EngineRecord,
    dev_server_command,
    read_pid_file,
    start_dev_server,
    write_pid_file,
)
from tests.support.engine_processes import (
    engines_on,
    eventually,
    kill_engine,
    listening,
    none_listening,
    running,
)
from tests.support.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]

# A stack stand-in: starts the engine with a pid file, says its pid, then waits to be killed.
STARTER = """
import sys, time
from pathlib import Path
from optiinfra.engine.devserver import start_dev_server
state = Path(sys.argv[1])
server = start_dev_server(
    db_path=state / "temporal.db", log_path=state / "temporal.log",
    port=int(sys.argv[2]), ui_port=int(sys.argv[3]), pid_file=state / "temporal.pid",
)
print(server.process.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def ports() -> tuple[int, int]:
    """The engine's frontend and Web UI ports."""
    return free_port(), free_port()


def dead_pid() -> int:
    """A pid whose process has exited (the owner of an engine left behind)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_pid_file_names_the_running_engine_and_is_removed_at_stop(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    pid_file = tmp_path / "temporal.pid"
    server = start_dev_server(
        db_path=tmp_path / "temporal.db",
        log_path=tmp_path / "temporal.log",
        port=ports[0],
        ui_port=ports[1],
        pid_file=pid_file,
    )
    try:
        assert read_pid_file(pid_file) == EngineRecord(pid=server.process.pid, owner_pid=os.getpid())
        assert listening(ports[0])
    finally:
        server.stop()
    assert not pid_file.exists()
    assert none_listening(ports)


def test_the_engine_dies_within_ten_seconds_of_its_starter_being_killed(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path), str(ports[0]), str(ports[1])],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    engine_pid = 0
    try:
        assert starter.stdout is not None
        engine_pid = int(starter.stdout.readline() or 0)
        assert engine_pid, f"the starter exited with {starter.wait()} before starting the engine"
        assert listening(ports[0])
        starter.kill()  # SIGKILL: nothing of the starter's own cleanup runs
        starter.wait()
        assert eventually(lambda: none_listening(ports), timeout_s=10), "the engine outlived its starter"
        assert eventually(lambda: not running(engine_pid), timeout_s=10)
    finally:
        starter.kill()
        starter.wait()
        kill_engine(engine_pid)


@pytest.fixture
def unrelated_process() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize("taken", ["frontend", "ui"])
def test_a_port_held_by_another_process_is_refused_and_nothing_starts(
    tmp_path: Path, ports: tuple[int, int], taken: str, unrelated_process: subprocess.Popen[bytes]
) -> None:
    """Even with a pid file naming a live process: it is not a Temporal engine, so it is neither trusted
    nor signalled."""
    pid_file = tmp_path / "temporal.pid"
    recorded = EngineRecord(pid=unrelated_process.pid, owner_pid=dead_pid())
    write_pid_file(pid_file, recorded)
    port = ports[0] if taken == "frontend" else ports[1]
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        with pytest.raises(DevServerError, match=rf"^port {port} is taken by another process") as raised:
            start_dev_server(
                db_path=tmp_path / "temporal.db",
                log_path=tmp_path / "temporal.log",
                port=ports[0],
                ui_port=ports[1],
                pid_file=pid_file,
            )
    assert "\n" not in str(raised.value)
    assert engines_on(ports[0]) == []
    assert not (tmp_path / "temporal.log").exists()
    assert read_pid_file(pid_file) == recorded
    assert unrelated_process.poll() is None


def test_a_stale_engine_of_this_state_dir_is_stopped_and_a_fresh_one_starts(
    tmp_path: Path, ports: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """The stale engine runs in a session of its own with no parent-death signal (as one left by a stack
    on a system without it), on the state dir's database and ports; its recorded owner has exited."""
    db_path, pid_file = tmp_path / "temporal.db", tmp_path / "temporal.pid"
    command = dev_server_command(
        host="127.0.0.1",
        port=ports[0],
        ui_port=ports[1],
        db_path=db_path,
        headless=False,
        register_search_attributes=True,
    )
    with (tmp_path / "stale.log").open("wb") as log:
        stale = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = None
    try:
        write_pid_file(pid_file, EngineRecord(pid=stale.pid, owner_pid=dead_pid()))
        assert eventually(lambda: listening(ports[0]), timeout_s=60), "the stale engine did not start"

        server = start_dev_server(
            db_path=db_path,
            log_path=tmp_path / "temporal.log",
            port=ports[0],
            ui_port=ports[1],
            pid_file=pid_file,
        )

        assert stale.wait(timeout=1) is not None
        assert server.process.poll() is None
        assert engines_on(ports[0]) == [server.process.pid]
        assert read_pid_file(pid_file) == EngineRecord(pid=server.process.pid, owner_pid=os.getpid())
        assert f"stopping a stale Temporal engine (pid {stale.pid})" in caplog.text
    finally:
        if server is not None:
            server.stop()
        if stale.poll() is None:
            os.kill(stale.pid, signal.SIGKILL)
            stale.wait()


def test_an_engine_whose_owner_still_runs_is_left_alone(tmp_path: Path, ports: tuple[int, int]) -> None:
    """Another stack on the same state dir (its database) is live: an error, even on other ports."""
    db_path, log_path, pid_file = (
        tmp_path / "temporal.db",
        tmp_path / "temporal.log",
        tmp_path / "temporal.pid",
    )
    first = start_dev_server(
        db_path=db_path, log_path=log_path, port=ports[0], ui_port=ports[1], pid_file=pid_file
    )
    try:
        with pytest.raises(DevServerError, match=rf"engine \(pid {first.process.pid}\) still serves"):
            start_dev_server(
                db_path=db_path, log_path=log_path, port=free_port(), ui_port=free_port(), pid_file=pid_file
            )
        assert first.process.poll() is None
        assert read_pid_file(pid_file) == EngineRecord(pid=first.process.pid, owner_pid=os.getpid())
    finally:
        first.stop()
