"""The API app served in-process over ASGI, sharing the caller's Temporal client and store."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from optiinfra.settings import Settings


@asynccontextmanager
async def api_client(
    settings: Settings,
    *,
    token: str,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    tracer_provider: TracerProvider | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"api_token": SecretStr(token)}),
        client=client,
        sessions=sessions,
        tracer_provider=tracer_provider,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
    ):
        yield http
