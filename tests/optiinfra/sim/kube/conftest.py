"""The twin's Kubernetes endpoint on a free port, with a hand-driven clock, and official clients for it."""

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from optiinfra.sim.kube import KubeApiServer, KubeCluster

START_EPOCH_S = 1_760_000_000.0


class ManualClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float = START_EPOCH_S) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(clock: ManualClock) -> KubeCluster:
    return KubeCluster(clock=clock, seed=7)


@pytest.fixture
def server(cluster: KubeCluster) -> Iterator[KubeApiServer]:
    with KubeApiServer(cluster) as running:
        yield running


@pytest.fixture
def api_client(server: KubeApiServer) -> Iterator[Any]:
    with client.ApiClient(client.Configuration(host=server.url)) as api:
        yield api


@pytest.fixture
def apps(api_client: Any) -> Any:
    return client.AppsV1Api(api_client)


@pytest.fixture
def core(api_client: Any) -> Any:
    return client.CoreV1Api(api_client)
