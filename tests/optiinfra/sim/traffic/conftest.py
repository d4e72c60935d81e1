"""The three real traces, loaded once per session from the shared data set."""

from pathlib import Path

import pytest

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic import Request, load_azure_trace, load_mooncake_trace, load_servegen_aggregate
from optiinfra.sim.traffic.generator import AZURE_CODE_TRACE, MOONCAKE_CONVERSATION_TRACE, SERVEGEN_AGGREGATE


@pytest.fixture(scope="session")
def servegen_windows(shared_data_dir: Path) -> list[RateWindow]:
    return load_servegen_aggregate(shared_data_dir / SERVEGEN_AGGREGATE)


@pytest.fixture(scope="session")
def azure_requests(shared_data_dir: Path) -> list[Request]:
    return load_azure_trace(shared_data_dir / AZURE_CODE_TRACE)


@pytest.fixture(scope="session")
def mooncake_requests(shared_data_dir: Path) -> list[Request]:
    return load_mooncake_trace(shared_data_dir / MOONCAKE_CONVERSATION_TRACE)
