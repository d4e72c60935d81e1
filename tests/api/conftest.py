"""The API app wired to the real dev server and a real migrated store, reached through ASGI."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.settings import Settings
from optiinfra.store.database import create_engine_for, session_factory
from tests.support.asgi import api_client

API_TOKEN = "test-token-0123456789"


@pytest.fixture
async def api_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def api(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(temporal_task_queue="api-tests")
    async with api_client(settings, token=API_TOKEN, client=temporal_client, sessions=api_sessions) as http:
        yield http
