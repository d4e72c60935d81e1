"""The cloud twin for tests: a real moto server over HTTP, and a freshly seeded demo fleet per test.

Fixtures:
- `moto_endpoint` (session): endpoint URL of a moto server on a free loopback port, stopped at the end.
- `seeded_cloud` (per test): moto reset, then the demo fleet with 14 days of hourly utilization ending at
  the current hour; gives a `SeededCloud` with an `Ec2Fleet` and a `ScalingGroups` that poll fast.
- `seeded_cloud_no_metrics` (per test): the same instances without utilization history, for tests that
  only act on instances.

Seeding goes through moto's API, as the embedded stack seeds it: tens of thousands of datapoints, seconds
of work. It is done once per session (per xdist worker) and hour: right after, a copy of moto's backends is
kept, and every later test of that hour gets moto reset and a fresh copy of that state installed, which is
what seeding again would give it (the history ends at the same hour), down to the instance ids.

Moto's state is per process, so any in-process `mock_aws` shares (and is reset with) this server. moto, boto3
and the cloud adapters are imported only when a fixture here runs, so the unit tier never loads them."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from optiinfra.cloud.autoscaling import ScalingGroups
    from optiinfra.cloud.ec2 import Ec2Fleet
    from optiinfra.sim.seed import SeededFleet

TEST_POLL_INTERVAL_SECONDS = 0.01
TEST_WAIT_TIMEOUT_SECONDS = 10.0
DEMO_HISTORY_DAYS = 14
SEEDED_SERVICES = ("ec2", "autoscaling", "cloudwatch", "elb", "elbv2")
"""Moto's backends that seeding fills (Auto Scaling's refers to EC2's and the load balancers')."""


@dataclass(frozen=True)
class SeededCloud:
    endpoint_url: str
    region: str
    seeded: SeededFleet
    fleet: Ec2Fleet
    groups: ScalingGroups
    state: SeededState
    """The seeded state this test started from, shared with every test of the session restored from it."""

    def make_fleet(self, *, wait_timeout_seconds: float = TEST_WAIT_TIMEOUT_SECONDS) -> Ec2Fleet:
        """Another adapter on the same twin, e.g. with a short wait timeout."""
        return _fast_fleet(self.endpoint_url, self.region, wait_timeout_seconds)


@dataclass
class SeededState:
    """One seeding of the demo fleet: what it made, a copy of moto's backends right after it, and a folder
    for what tests derive from that state alone (such as the first collection pass over it)."""

    key: tuple[int, datetime]
    """(days of history, the hour it ends at)."""
    seeded: SeededFleet
    backends: bytes
    """Moto's backends as seeding left them, pickled: (service, account, region) -> that region's backend."""
    scratch: Path


class DemoClouds:
    """The session's seedings, one per length of history, replaced when the hour turns."""

    def __init__(self, endpoint_url: str, scratch: Path) -> None:
        self.endpoint_url = endpoint_url
        self._scratch = scratch
        self._states: dict[int, SeededState] = {}
        self._serial = itertools.count()

    def fresh(self, days: int) -> SeededCloud:
        from optiinfra.domain.series import floor_to_period
        from optiinfra.sim.demo_fleet import DEMO_REGION, demo_fleet
        from optiinfra.sim.moto_server import reset_moto
        from optiinfra.sim.seed import seed_fleet

        now = datetime.now(UTC)
        key = (days, floor_to_period(now, 3600))
        reset_moto(self.endpoint_url)
        fleet = _fast_fleet(self.endpoint_url, DEMO_REGION, TEST_WAIT_TIMEOUT_SECONDS)
        groups = fast_scaling_groups(self.endpoint_url, DEMO_REGION)
        state = self._states.get(days)
        if state is not None and state.key == key:
            _install_backends(pickle.loads(state.backends))
        else:
            seeded = seed_fleet(
                fleet.ec2, fleet.cloudwatch, groups.autoscaling, demo_fleet(DEMO_REGION), now, days
            )
            scratch = self._scratch / f"state-{next(self._serial)}"
            scratch.mkdir()
            state = SeededState(key=key, seeded=seeded, backends=_copy_backends(), scratch=scratch)
            self._states[days] = state
        return SeededCloud(
            endpoint_url=self.endpoint_url,
            region=DEMO_REGION,
            seeded=state.seeded.model_copy(deep=True),
            fleet=fleet,
            groups=groups,
            state=state,
        )


def _copy_backends() -> bytes:
    """Pickled together, so that the copies refer to each other as the originals do (loading a pickle is
    faster than a deep copy)."""
    from moto.backends import get_backend

    found: dict[tuple[str, str, str], Any] = {}
    for service in SEEDED_SERVICES:
        for account, regions in get_backend(service).items():  # type: ignore[call-overload]
            for region, backend in regions.items():
                found[service, account, region] = backend
    return pickle.dumps(found)


def _install_backends(backends: dict[tuple[str, str, str], Any]) -> None:
    from moto.backends import get_backend

    for (service, account, region), backend in backends.items():
        get_backend(service)[account][region] = backend  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from optiinfra.sim.moto_server import start_moto_server

    with start_moto_server() as server:
        yield server.endpoint_url


@pytest.fixture(scope="session")
def demo_clouds(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> DemoClouds:
    return DemoClouds(moto_endpoint, tmp_path_factory.mktemp("seeded-clouds"))


@pytest.fixture
def seeded_cloud(demo_clouds: DemoClouds) -> SeededCloud:
    return demo_clouds.fresh(DEMO_HISTORY_DAYS)


@pytest.fixture
def seeded_cloud_no_metrics(demo_clouds: DemoClouds) -> SeededCloud:
    return demo_clouds.fresh(0)


def fast_scaling_groups(
    endpoint_url: str, region: str, wait_timeout_seconds: float = TEST_WAIT_TIMEOUT_SECONDS
) -> ScalingGroups:
    from optiinfra.cloud.autoscaling import ScalingGroups
    from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS

    return ScalingGroups(
        region,
        endpoint_url,
        SIMULATOR_CREDENTIALS,
        poll_interval_seconds=TEST_POLL_INTERVAL_SECONDS,
        wait_timeout_seconds=wait_timeout_seconds,
    )


def _fast_fleet(endpoint_url: str, region: str, wait_timeout_seconds: float) -> Ec2Fleet:
    """Moto changes state at once, so polling can be near-instant."""
    from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, Ec2Fleet

    return Ec2Fleet(
        region,
        endpoint_url,
        SIMULATOR_CREDENTIALS,
        poll_interval_seconds=TEST_POLL_INTERVAL_SECONDS,
        wait_timeout_seconds=wait_timeout_seconds,
    )
