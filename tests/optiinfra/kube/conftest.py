"""The adapter against the twin's Kubernetes endpoint over real HTTP, with a hand-driven clock."""

from collections.abc import AsyncIterator, Iterator

import pytest

from optiinfra.kube.deployments import Deployments
from optiinfra.sim.kube import KubeApiServer, KubeCluster
from tests.optiinfra.sim.kube.conftest import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(clock: ManualClock) -> KubeCluster:
    return KubeCluster(clock=clock, seed=3)


@pytest.fixture
def server(cluster: KubeCluster) -> Iterator[KubeApiServer]:
    with KubeApiServer(cluster) as running:
        yield running


@pytest.fixture
async def deployments(server: KubeApiServer) -> AsyncIterator[Deployments]:
    adapter = Deployments.for_url(server.url)
    yield adapter
    await adapter.close()
