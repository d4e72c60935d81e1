"""A peer's adapter run as a subprocess of its own environment, spoken to in JSON lines: one request object
per line on its stdin, one answer object per line on its stdout. An answer with an `error` key is the
adapter's one-line account of a failure; the peer's own logs go to its stderr, kept for the error message."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from optiinfra.bench.peers.environment import PEERS_DIR, Peer, peer_python

STDERR_TAIL_LINES = 8
PROTOCOL_DIR = PEERS_DIR / "protocol"


class PeerError(RuntimeError):
    """The peer refused a request, or its process ended."""


class PeerProcess:
    """The adapter of one peer, started once and asked many times."""

    def __init__(self, peer: Peer, envs_dir: Path) -> None:
        self.peer = peer
        python = peer_python(peer, envs_dir)
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        environment = {
            key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        # The adapter's folder comes first on the path (a peer's stand-in modules live beside it), then the
        # protocol's serving loop.
        environment["PYTHONPATH"] = os.pathsep.join([str(peer.folder), str(PROTOCOL_DIR)])
        environment["PYTHONUNBUFFERED"] = "1"
        self._process = subprocess.Popen(
            [str(python), str(peer.adapter)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=environment,
            cwd=peer.folder,
            text=True,
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except BrokenPipeError as error:
            raise PeerError(f"{self.peer.name}'s adapter has exited: {self._stderr_tail()}") from error
        line = stdout.readline()
        if not line:
            raise PeerError(f"{self.peer.name}'s adapter ended without an answer: {self._stderr_tail()}")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as error:
            raise PeerError(
                f"{self.peer.name}'s adapter wrote a line that is not JSON: {line[:200]!r}"
            ) from error
        if not isinstance(answer, dict):
            raise PeerError(f"{self.peer.name}'s adapter answered {type(answer).__name__}, not an object")
        if "error" in answer:
            raise PeerError(f"{self.peer.name}: {answer['error']}")
        return answer

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-STDERR_TAIL_LINES:]) or "(nothing on stderr)"

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
