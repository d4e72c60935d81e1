"""Throwaway PostgreSQL 15 for tests, and a migrated database per test on either backend.

Fixtures:
- `postgres_cluster` (session): a private cluster on a free loopback port, trust auth, removed at the end.
- `postgres_url` (session): `postgresql+asyncpg://` URL of an empty database on that cluster.
- `database_url` (per test, parametrized `sqlite` / `postgres`): a fresh, fully migrated database.
  PostgreSQL ones are copied from a template migrated once per session (cheaper than migrating each).
- `empty_database_url` (per test, same parameters): a fresh database with no schema at all.

Missing PostgreSQL binaries fail the tests that need them; they are never skipped, because a silently
skipped backend would let PostgreSQL-only bugs through. The store is imported only when a database is made,
so the unit tier never loads it."""

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PREFERRED_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
OS_USER = "postgres"  # PostgreSQL refuses to run as root; as root we run it as this user instead.
START_ATTEMPTS = 3  # another process may grab the free port between our probe and the server's bind
# Durability is pointless for a throwaway cluster, and turning it off makes the tests much faster.
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
DATABASE_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class PostgresCluster:
    bindir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None) -> None:
        copy_of = ["--template", template] if template else []
        _run([str(self.bindir / "createdb"), *self._client_args(), *copy_of, name], f"createdb {name}")

    def drop_database(self, name: str) -> None:
        """`--force` ends connections a test left open (an engine it did not dispose)."""
        _run([str(self.bindir / "dropdb"), *self._client_args(), "--force", name], f"dropdb {name}")

    def _client_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = _find_bindir()
    root = _make_private_root()
    try:
        _run(_as_cluster_owner(_initdb_command(bindir, root / "data")), "initdb")
        cluster = _start(bindir, root)
        try:
            yield cluster
        finally:
            _stop(cluster)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    postgres_cluster.create_database("optiinfra")
    return postgres_cluster.url("optiinfra")


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_cluster: PostgresCluster) -> str:
    """Name of a database at the newest schema, which `database_url` copies for each test."""
    postgres_cluster.create_database("optiinfra_template")
    _migrate_outside_the_test_loop(postgres_cluster.url("optiinfra_template"))
    return "optiinfra_template"


@pytest.fixture(params=DATABASE_BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no test has touched and no migration has run on."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    with _scratch_postgres_database(request.getfixturevalue("postgres_cluster")) as url:
        yield url


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
        _migrate_outside_the_test_loop(url)
        yield url
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template: str = request.getfixturevalue("migrated_postgres_template")
    with _scratch_postgres_database(cluster, template=template) as url:
        yield url


def _sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'optiinfra.db'}"


@contextmanager
def _scratch_postgres_database(cluster: PostgresCluster, *, template: str | None = None) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    cluster.create_database(name, template=template)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


def _migrate_outside_the_test_loop(url: str) -> None:
    """Run `migrate` on its own loop in its own thread: sync fixtures may not touch pytest-asyncio's
    loop, and `asyncio.run` in this thread would replace that loop as the thread's current one."""
    from optiinfra.store.database import migrate

    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, migrate(url)).result()


def _find_bindir() -> Path:
    candidates = [PREFERRED_BINDIR]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        reported = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(reported.stdout.strip()))
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "createdb", "dropdb")):
            return bindir
    pytest.fail(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in {[str(c) for c in candidates]}; "
        "install PostgreSQL 15 (e.g. `apt-get install postgresql-15`) to run the PostgreSQL tests",
        pytrace=False,
    )


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _make_private_root() -> Path:
    """A 0700 directory under /tmp owned by whoever runs the server (every parent is traversable)."""
    root = Path(tempfile.mkdtemp(prefix="optiinfra-pg-", dir="/tmp"))
    if _running_as_root():
        owner = pwd.getpwnam(OS_USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    return root


def _as_cluster_owner(command: list[str]) -> list[str]:
    if _running_as_root():
        return ["runuser", "-u", OS_USER, "--", *command]
    return command


def _initdb_command(bindir: Path, data_dir: Path) -> list[str]:
    return [
        str(bindir / "initdb"),
        *("-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"),
        "--no-sync",
    ]


def _start(bindir: Path, root: Path) -> PostgresCluster:
    failure = ""
    for _ in range(START_ATTEMPTS):
        cluster = PostgresCluster(bindir=bindir, root=root, port=_free_loopback_port())
        started = _run_quietly(_as_cluster_owner(_pg_ctl_start_command(cluster)), cwd=root)
        if started.returncode == 0:
            return cluster
        failure = started.stdout + started.stderr + _read_log(root)
    pytest.fail(f"PostgreSQL did not start after {START_ATTEMPTS} attempts:\n{failure}", pytrace=False)


def _pg_ctl_start_command(cluster: PostgresCluster) -> list[str]:
    server_options = f"-p {cluster.port} -k {cluster.root} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}"
    return [
        str(cluster.bindir / "pg_ctl"),
        *("-D", str(cluster.data_dir), "-l", str(cluster.root / "server.log")),
        *("-w", "-t", "60", "-o", server_options, "start"),
    ]


def _stop(cluster: PostgresCluster) -> None:
    stop = [str(cluster.bindir / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "immediate", "-w", "stop"]
    _run_quietly(_as_cluster_owner(stop), cwd=cluster.root)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _read_log(root: Path) -> str:
    log = root / "server.log"
    return log.read_text(errors="replace") if log.exists() else ""


def _run_quietly(command: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # cwd: the server's user may not be allowed into the directory the tests run from.
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd or "/tmp")


def _run(command: list[str], what: str) -> None:
    completed = _run_quietly(command)
    if completed.returncode != 0:
        pytest.fail(f"{what} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
