"""Each customer's Deployments are read and acted on in its own cluster (its API server and bearer token);
a customer without one, in the worker's own; a changed token takes a new client."""

from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.connections.clusters import CustomerClusters
from optiinfra.connections.model import ConnectionSecrets, ConnectionSpec
from optiinfra.connections.reader import ConnectionReader
from optiinfra.connections.store import cipher_from_settings, put_connection
from optiinfra.domain.kube import DeploymentRef
from optiinfra.kube.deployments import Deployments, KubeActionError
from optiinfra.settings import Settings
from optiinfra.sim.kube import KubeApiServer, KubeCluster
from optiinfra.sim.kube.manifests import vllm_deployment_manifest
from optiinfra.store import repository
from optiinfra.store.database import create_engine_for, session_factory
from tests.optiinfra.store import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHAT = DeploymentRef(namespace="serving", name="chat")
TOKEN = "acme-cluster-token"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def acme_cluster() -> Iterator[KubeApiServer]:
    cluster = KubeCluster(seed=3)
    cluster.create_deployment(
        vllm_deployment_manifest("serving", "chat", "Qwen/Qwen2.5-7B-Instruct", "g6.2xlarge", 1, 3)
    )
    with KubeApiServer(cluster, token=TOKEN) as server:
        yield server


@pytest.fixture
def own_cluster() -> Iterator[KubeApiServer]:
    with KubeApiServer(KubeCluster(seed=4)) as server:
        yield server


async def test_a_customers_deployments_are_read_in_its_own_cluster(
    sessions: async_sessionmaker[AsyncSession], acme_cluster: KubeApiServer, own_cluster: KubeApiServer
) -> None:
    settings = Settings(connection_key=SecretStr(Fernet.generate_key().decode()))
    async with sessions.begin() as session:
        for customer in ("acme", "demo"):
            await repository.upsert_customer(session=session, customer=factories.customer(customer))
        await put_connection(
            session=session,
            cipher=cipher_from_settings(settings),
            customer_id="acme",
            spec=ConnectionSpec(kube_api_url=acme_cluster.url),
            secrets=ConnectionSecrets(kube_token=SecretStr(TOKEN)),
        )
    own = Deployments.for_url(own_cluster.url)
    clusters = CustomerClusters(
        own, settings=settings, connections=ConnectionReader.from_settings(settings, sessions)
    )
    try:
        acme = await clusters.for_customer("acme")
        assert acme is not None and acme is not own
        assert (await acme.read(CHAT)).replicas == 3
        assert await clusters.for_customer("acme") is acme  # one client per cluster and token
        assert await clusters.for_customer("demo") is own  # no connection: the worker's cluster
        with pytest.raises(KubeActionError):
            await own.read(CHAT)  # the worker's own cluster has no such Deployment
        without_token = Deployments.for_url(acme_cluster.url)
        try:
            with pytest.raises(KubeActionError):
                await without_token.read(CHAT)  # the customer's cluster wants its token
        finally:
            await without_token.close()
    finally:
        await clusters.aclose()
        await own.close()
