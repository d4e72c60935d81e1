"""A served fleet of emulated vLLM replicas and an HTTP client to scrape it."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from optiinfra.sim.vllm_emulator import VllmEmulatorServer


@pytest.fixture
def emulator() -> Iterator[VllmEmulatorServer]:
    with VllmEmulatorServer() as server:
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
