"""The API served over real HTTP (uvicorn on a free port, in the test's event loop), and an MCP client of
its /mcp endpoint made with the `mcp` package's own client."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import uvicorn
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from optiinfra.engine.devserver import free_port


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app's base URL while uvicorn serves it (its lifespan included)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the API did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@asynccontextmanager
async def mcp_client(base_url: str, token: str, **options: Any) -> AsyncIterator[Client]:
    """An MCP client session over streamable HTTP, every request carrying `token` as its bearer."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http), **options) as client,
    ):
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def answer_of(result: CallToolResult) -> dict[str, Any]:
    """A tool's answer, failing the test with the tool's error when it refused."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def refusal_of(result: CallToolResult) -> str:
    """Why a tool refused, without the SDK's `Error executing tool NAME: ` before it."""
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert text.startswith("Error executing tool "), text
    return text.split(": ", 1)[1]
