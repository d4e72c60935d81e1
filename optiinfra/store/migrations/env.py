"""Alembic environment. `optiinfra.store.database.migrate` hands over an open connection (and its
transaction); run through the `alembic` command instead, this opens its own async engine on the URL
given as `-x url=...`, or the one from settings."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from optiinfra.settings import get_settings
from optiinfra.store.database import create_engine_for
from optiinfra.store.tables import Base

TARGET_METADATA = Base.metadata


def _configured_url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or get_settings().effective_database_url


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=TARGET_METADATA)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_own_engine(url: str) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    """`alembic upgrade --sql`: print the DDL instead of running it."""
    context.configure(url=url, target_metadata=TARGET_METADATA, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    shared_connection = context.config.attributes.get("connection")
    if shared_connection is not None:
        _run_on(shared_connection)
    elif context.is_offline_mode():
        _run_offline(_configured_url())
    else:
        asyncio.run(_run_on_own_engine(_configured_url()))


_main()
