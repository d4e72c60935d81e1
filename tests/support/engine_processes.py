"""Watching the embedded Temporal engine from outside, as a user would: who listens on a port, which
engine processes run, and removing one a failed test left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from optiinfra.engine.devserver import read_pid_file


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def none_listening(ports: Iterable[int]) -> bool:
    return not any(listening(port) for port in ports)


def eventually(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Whether `condition` holds at some poll within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def engines_on(port: int) -> list[int]:
    """Pids of the running `temporal server start-dev` processes whose frontend port is `port`."""
    return [
        pid
        for pid in (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        if _frontend_port(_cmdline(pid)) == str(port) and running(pid)
    ]


def _frontend_port(args: list[str]) -> str | None:
    if "start-dev" not in args or "--port" not in args[:-1]:
        return None
    return args[args.index("--port") + 1]


def kill_engine(pid: int) -> None:
    """SIGKILL `pid` if it (still) is a Temporal dev server: never a pid since reused by another process."""
    if "start-dev" in _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_recorded_engine(pid_file: Path) -> None:
    """Cleanup after a failed test: the engine a state dir's pid file names, if it still runs."""
    record = read_pid_file(pid_file)
    if record is not None:
        kill_engine(record.pid)
