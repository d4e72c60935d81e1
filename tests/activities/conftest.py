"""A migrated store per test (SQLite and PostgreSQL); the OpenAI-compatible stub comes from tests/support."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.store.database import create_engine_for, session_factory


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    await engine.dispose()
