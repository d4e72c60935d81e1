"""The cloud twin for tests: a real moto server over HTTP, and a freshly seeded demo fleet per test.

Fixtures:
- `moto_endpoint` (session): endpoint URL of a moto server on a free loopback port, stopped at the end.
- `seeded_cloud` (per test): moto reset through its reset API, then the demo fleet seeded with 14 days
  of hourly utilization ending now; gives a `SeededCloud` with an `Ec2Fleet` and a `ScalingGroups` that
  poll fast (~1.5 s).
- `seeded_cloud_no_metrics` (per test): the same instances without utilization history, for tests that
  only act on instances (~0.3 s).

Moto's state is per process, so any in-process `mock_aws` shares (and is reset with) this server."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, Ec2Fleet
from optiinfra.sim.demo_fleet import DEMO_REGION, demo_fleet
from optiinfra.sim.moto_server import reset_moto, start_moto_server
from optiinfra.sim.seed import SeededFleet, seed_fleet

TEST_POLL_INTERVAL_SECONDS = 0.01
TEST_WAIT_TIMEOUT_SECONDS = 10.0
DEMO_HISTORY_DAYS = 14


@dataclass(frozen=True)
class SeededCloud:
    endpoint_url: str
    region: str
    seeded: SeededFleet
    fleet: Ec2Fleet
    groups: ScalingGroups

    def make_fleet(self, *, wait_timeout_seconds: float = TEST_WAIT_TIMEOUT_SECONDS) -> Ec2Fleet:
        """Another adapter on the same twin, e.g. with a short wait timeout."""
        return _fast_fleet(self.endpoint_url, self.region, wait_timeout_seconds)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with start_moto_server() as server:
        yield server.endpoint_url


@pytest.fixture
def seeded_cloud(moto_endpoint: str) -> SeededCloud:
    return _fresh_demo_cloud(moto_endpoint, days=DEMO_HISTORY_DAYS)


@pytest.fixture
def seeded_cloud_no_metrics(moto_endpoint: str) -> SeededCloud:
    return _fresh_demo_cloud(moto_endpoint, days=0)


def _fresh_demo_cloud(endpoint_url: str, days: int) -> SeededCloud:
    reset_moto(endpoint_url)
    fleet = _fast_fleet(endpoint_url, DEMO_REGION, TEST_WAIT_TIMEOUT_SECONDS)
    groups = fast_scaling_groups(endpoint_url, DEMO_REGION)
    seeded = seed_fleet(
        fleet.ec2, fleet.cloudwatch, groups.autoscaling, demo_fleet(DEMO_REGION), datetime.now(UTC), days
    )
    return SeededCloud(
        endpoint_url=endpoint_url, region=DEMO_REGION, seeded=seeded, fleet=fleet, groups=groups
    )


def fast_scaling_groups(
    endpoint_url: str, region: str, wait_timeout_seconds: float = TEST_WAIT_TIMEOUT_SECONDS
) -> ScalingGroups:
    return ScalingGroups(
        region,
        endpoint_url,
        SIMULATOR_CREDENTIALS,
        poll_interval_seconds=TEST_POLL_INTERVAL_SECONDS,
        wait_timeout_seconds=wait_timeout_seconds,
    )


def _fast_fleet(endpoint_url: str, region: str, wait_timeout_seconds: float) -> Ec2Fleet:
    """Moto changes state at once, so polling can be near-instant."""
    return Ec2Fleet(
        region,
        endpoint_url,
        SIMULATOR_CREDENTIALS,
        poll_interval_seconds=TEST_POLL_INTERVAL_SECONDS,
        wait_timeout_seconds=wait_timeout_seconds,
    )
