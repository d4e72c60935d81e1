"""The Alembic migrations build exactly the schema that `tables.py` describes, on both backends."""

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from optiinfra.store.database import alembic_config, create_engine_for, migrate
from optiinfra.store.tables import Base

STORE_TABLES = {
    "customers",
    "workloads",
    "workflow_runs",
    "recommendations",
    "executions",
    "audit_log",
    "llm_usage",
    "customer_privacy",
    "request_log",
    "quality_comparisons",
    "api_keys",
    "identity_providers",
    "customer_connections",
    "request_aggregates",
    "prompt_vault",
    "conflicts",
    "capacity_profiles",
    "workload_locks",
    "stored_payloads",
}


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_differences(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head_revision() -> str | None:
    """The newest migration, so adding one needs no edit here."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_migrate_creates_every_table(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(_table_names)
    assert tables == STORE_TABLES | {"alembic_version"}


async def test_migrated_schema_matches_table_definitions(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_schema_differences) == []


async def test_migrate_again_and_concurrently_is_harmless(empty_database_url: str) -> None:
    await asyncio.gather(migrate(empty_database_url), migrate(empty_database_url))
    await migrate(empty_database_url)
    engine = create_engine_for(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_current_revision) == _head_revision()
    finally:
        await engine.dispose()
