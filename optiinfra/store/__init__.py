"""Relational store: SQLite embedded, PostgreSQL in production; schema by Alembic migrations.

Use `create_engine_for(url)`, `await migrate(url)` once at start-up, `session_factory(engine)`, and the
functions of `optiinfra.store.repository`, which take and return domain models."""

from optiinfra.store.database import alembic_config, create_engine_for, migrate, session_factory

__all__ = ["alembic_config", "create_engine_for", "migrate", "session_factory"]
