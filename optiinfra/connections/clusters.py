"""The Kubernetes cluster each customer's Deployments are acted on in: its connection's API server (with its
bearer token) or kubeconfig context; without either, the worker's own cluster, as configured in settings."""

import hashlib

from optiinfra.connections.model import CustomerConnection
from optiinfra.connections.reader import ConnectionReader
from optiinfra.kube.deployments import Deployments
from optiinfra.settings import Settings


class CustomerClusters:
    def __init__(
        self,
        default: Deployments | None,
        *,
        settings: Settings | None = None,
        connections: ConnectionReader | None = None,
    ) -> None:
        self._default = default
        self._settings = settings
        self._connections = connections
        self._clients: dict[str, tuple[str, Deployments]] = {}

    async def for_customer(self, customer_id: str | None) -> Deployments | None:
        """None when neither the customer nor the worker has a cluster."""
        if customer_id is None or self._connections is None:
            return self._default
        connection = await self._connections.get(customer_id)
        if connection is None or (
            connection.spec.kube_api_url is None and connection.spec.kube_context is None
        ):
            return self._default
        fingerprint = _fingerprint(connection)
        kept = self._clients.get(customer_id)
        if kept is not None and kept[0] == fingerprint:
            return kept[1]
        if kept is not None:
            await kept[1].close()
        deployments = self._connect(connection)
        self._clients[customer_id] = (fingerprint, deployments)
        return deployments

    def _connect(self, connection: CustomerConnection) -> Deployments:
        spec = connection.spec
        if spec.kube_api_url is not None:
            token = connection.secrets.kube_token
            return Deployments.for_url(str(spec.kube_api_url), token.get_secret_value() if token else None)
        settings = (self._settings or Settings()).model_copy(
            update={"kube_api_url": "", "kube_in_cluster": False, "kube_context": spec.kube_context}
        )
        return Deployments.from_settings(settings)

    async def aclose(self) -> None:
        for _, deployments in self._clients.values():
            await deployments.close()
        self._clients.clear()


def _fingerprint(connection: CustomerConnection) -> str:
    """Changes whenever the cluster or its credential does, without keeping the token itself."""
    token = connection.secrets.kube_token.get_secret_value() if connection.secrets.kube_token else ""
    text = f"{connection.spec.kube_api_url}|{connection.spec.kube_context}|{token}"
    return hashlib.sha256(text.encode()).hexdigest()
