"""Server processes the tests start: a free loopback port, and waiting until one answers ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import httpx


class ServerStartError(RuntimeError):
    """The server exited, or did not answer ready in time; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready_url: str,
    timeout_s: float,
    *,
    name: str,
    log_tail: Callable[[], str],
    error: type[ServerStartError] = ServerStartError,
) -> None:
    """Poll `ready_url` until it answers 200; raise `error` with the log's tail if the process exits first
    or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise error(f"{name} exited with {process.returncode} at start: {log_tail()}")
        try:
            if httpx.get(ready_url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise error(f"{name} was not ready within {timeout_s:.0f}s: {log_tail()}")


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Stop a server started in its own session (`start_new_session=True`) with all its children:
    SIGTERM to the group, SIGKILL if it has not exited within `timeout_s`."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)
