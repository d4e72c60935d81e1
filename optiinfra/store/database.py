"""Engines, sessions and schema migration for the store.

SQLite (the embedded default) and PostgreSQL get the same behaviour from the repository: the SQLite
engine is tuned here so that concurrent writers wait for each other instead of failing."""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# Any constant will do: it only has to be the same for every process migrating one database.
MIGRATION_LOCK_KEY = 0x0F7111F4A


def create_engine_for(url: str) -> AsyncEngine:
    """An async engine for `sqlite+aiosqlite://...` or `postgresql+asyncpg://...` URLs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    if not _is_sqlite_memory(parsed) and parsed.database is not None:
        _prepare_sqlite_file(Path(parsed.database).expanduser())
    engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    _tune_sqlite(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit, so domain models can be built afterwards."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (`alembic upgrade head`), in one transaction.

    Safe to call from several processes at once: PostgreSQL takes an advisory lock and SQLite's
    write lock is taken at BEGIN, so the later caller waits and then finds nothing to do."""
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to_head)
    finally:
        await engine.dispose()


def alembic_config() -> Config:
    """Programmatic Alembic configuration (no alembic.ini): for `migrate` and for writing revisions."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade_to_head(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    config = alembic_config()
    # env.py runs the migrations on this connection, inside the transaction opened by `migrate`.
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _is_sqlite_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the file in WAL mode (readers never block the writer) before any pooled connection opens.

    WAL is a persistent property of the file. Switching to it from pooled connections instead would
    race when several connect to a new file at once: one can fail with "database is locked", or two
    can each believe they hold the write lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _tune_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, and `BEGIN IMMEDIATE` for every transaction.

    pysqlite's own implicit BEGIN breaks SAVEPOINTs and starts transactions as readers; a reader
    that later writes fails at once with "database is locked" if another connection wrote in
    between. Taking the write lock up front makes writers queue (up to the busy timeout) instead."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable except on power loss
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
