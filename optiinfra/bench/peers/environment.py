"""One locked environment per peer, apart from OptiInfra's own: the peers pin versions that clash with ours
and with each other (AIBrix numpy 1.26, Dynamo pydantic <= 2.13.5), so each runs as a subprocess of its own
Python.

A peer's folder under `optiinfra/bench/peers/` holds its `requirements.lock` (every package pinned, installed
with `--no-deps`, so what is installed is exactly the lock) and its adapter, a script that imports only the
peer's own packages. The environment is built under `Settings.peer_envs_dir/<peer>` (`.venv-peers/` by
default) by `optiinfra bench peers --setup` or `make peers`, with uv; it is rebuilt when the lock changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
PYTHON_VERSION = "3.11"
LOCK_FILE = "requirements.lock"
ADAPTER_FILE = "adapter.py"
SYNCED_MARKER = ".synced"


class PeerEnvironmentError(RuntimeError):
    """A peer's environment is missing, stale or could not be built; the message says what to run."""


@dataclass(frozen=True)
class Peer:
    """A peer's name (its folder), the package whose decisions it contributes, and its pinned version."""

    name: str
    package: str
    description: str

    @property
    def folder(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def lock(self) -> Path:
        return self.folder / LOCK_FILE

    @property
    def adapter(self) -> Path:
        return self.folder / ADAPTER_FILE

    @property
    def version(self) -> str:
        """The peer package's version as the lock pins it."""
        prefix = f"{self.package}=="
        for line in self.lock.read_text().splitlines():
            if line.strip().lower().startswith(prefix):
                return line.strip()[len(prefix) :]
        raise PeerEnvironmentError(f"{self.lock} does not pin {self.package}")

    def lock_digest(self) -> str:
        return hashlib.sha256(self.lock.read_bytes()).hexdigest()


DYNAMO = Peer(
    name="dynamo",
    package="ai-dynamo",
    description="NVIDIA Dynamo's planner (SLA-based, aggregated mode), through its offline replay adapter",
)
AIBRIX = Peer(
    name="aibrix",
    package="aibrix",
    description="AIBrix's GPU optimizer (the Melange integer program, solved by CBC through pulp)",
)
PEERS = {peer.name: peer for peer in (DYNAMO, AIBRIX)}


def peer_python(peer: Peer, envs_dir: Path) -> Path:
    """The peer environment's interpreter; PeerEnvironmentError when it was not built from today's lock."""
    env = envs_dir.resolve() / peer.name
    python = env / "bin" / "python"
    marker = env / SYNCED_MARKER
    if not python.is_file() or not marker.is_file():
        raise PeerEnvironmentError(
            f"{peer.name}'s environment is not built at {env}: run `optiinfra bench peers --setup` "
            "(or `make peers`)"
        )
    if marker.read_text().strip() != peer.lock_digest():
        raise PeerEnvironmentError(
            f"{peer.name}'s environment at {env} was built from another lock: run "
            "`optiinfra bench peers --setup` again"
        )
    return python


def find_uv() -> str:
    """uv as $UV names it, on PATH, beside this interpreter, or in the Makefile's bootstrap environment."""
    for candidate in (
        os.environ.get("UV"),
        shutil.which("uv"),
        str(Path(sys.executable).parent / "uv"),
        ".venv-bootstrap/bin/uv",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise PeerEnvironmentError("uv is needed to build the peers' environments: `pip install uv`")


def setup_peer(peer: Peer, envs_dir: Path) -> Path:
    """Build (or rebuild, when its lock changed) the peer's environment; returns its interpreter."""
    with contextlib.suppress(PeerEnvironmentError):
        return peer_python(peer, envs_dir)  # already built from this lock
    env = envs_dir.resolve() / peer.name
    marker = env / SYNCED_MARKER
    uv = find_uv()
    marker.unlink(missing_ok=True)
    steps = [
        [uv, "venv", "--allow-existing", "--quiet", "--python", PYTHON_VERSION, str(env)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            str(env / "bin" / "python"),
            "-r",
            str(peer.lock),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise PeerEnvironmentError(
                f"building {peer.name}'s environment failed ({' '.join(step[:3])}): " + " / ".join(tail)
            )
    marker.write_text(peer.lock_digest() + "\n")
    return env / "bin" / "python"
