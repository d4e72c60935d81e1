"""The API app wired to the real dev server and a real migrated store, reached through ASGI."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.metrics.reporting import ReportingMetrics, ReportingMetricsStore
from optiinfra.metrics.store import ChdbRunner
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


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[ReportingMetrics]:
    """A reporting metrics store (chdb) of the test's own, for apps whose reports read measured figures."""
    opened = ReportingMetrics(ReportingMetricsStore(ChdbRunner(tmp_path / "metrics")))
    try:
        yield opened
    finally:
        opened.close()
