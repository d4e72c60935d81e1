"""The agents' tests are pure: they run on snapshots built in code, in the unit tier."""

from collections.abc import Iterator

import pytest

from agents.performance.forecast import ForecastMethod, standing_in
from tests.support.forecasts import prophet_stand_in


@pytest.fixture(autouse=True)
def prophet_fits() -> Iterator[None]:
    """Prophet's place in every forecast choice is taken by a stand-in (tests/support/forecasts.py): the
    analyzers are tested on what they do with a forecast. tests/agents/performance/forecast, where the
    forecasts themselves are tested, fits the real Prophet."""
    with standing_in(ForecastMethod.PROPHET, prophet_stand_in):
        yield
