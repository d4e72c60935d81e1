"""The ServeGen 14-day aggregate as a rate history, shared by the forecasting tests."""

from pathlib import Path

import pytest

from agents.performance.forecast import RateHistory
from optiinfra.sim.traffic import load_servegen_aggregate

SERVEGEN_AGGREGATE = Path("servegen") / "aggregate_rate_m-large.csv"


@pytest.fixture(scope="session")
def servegen_history(shared_data_dir: Path) -> RateHistory:
    return RateHistory.from_rate_windows(load_servegen_aggregate(shared_data_dir / SERVEGEN_AGGREGATE), 600.0)


@pytest.fixture(autouse=True)
def prophet_fits() -> None:
    """Here the forecasts are what is tested: Prophet fits for real (no stand-in, see tests/agents)."""
