"""A customer's connections through the API: admins only, secrets write-only and sealed, audited without
them, and refused with a 409 while the server has no master key."""

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.access.principal import Role
from optiinfra.connections.store import cipher_from_settings, load_connection
from optiinfra.settings import Settings
from optiinfra.store.tables import CustomerConnectionRow
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import make_tenants
from tests.support.asgi import api_client

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BODY = {
    "spec": {
        "aws_role_arn": "arn:aws:iam::111111111111:role/optiinfra",
        "prometheus_url": "http://prom:9090",
    },
    "secrets": {"aws_external_id": "acme-7f3c-secret", "prometheus_token": "prom-token-secret"},
}


async def test_secrets_are_sealed_never_shown_and_kept_when_left_out(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(
        connection_key=SecretStr(Fernet.generate_key().decode()), temporal_task_queue="api-tests"
    )
    async with api_client(settings, token=API_TOKEN, client=temporal_client, sessions=api_sessions) as api:
        tenants = await make_tenants(api)
        admin = tenants.headers("acme", Role.ADMIN)
        saved = await api.put("/v1/customers/acme/connection", json=BODY, headers=admin)
        assert saved.status_code == 200, saved.text
        assert saved.json()["secrets_set"] == ["aws_external_id", "prometheus_token"]
        changed = await api.put(
            "/v1/customers/acme/connection",
            json={"spec": BODY["spec"], "secrets": {"prometheus_token": ""}},
            headers=admin,
        )
        assert changed.json()["secrets_set"] == ["aws_external_id"]
        shown = await api.get("/v1/customers/acme/connection", headers=admin)
        audit = await api.get("/v1/audit", params={"action": "connection.put"}, headers=admin)
        for response in (saved, changed, shown, audit):
            assert "secret" not in response.text.replace("secrets_set", ""), response.text
        assert audit.json()["total"] == 2
        assert (
            await api.get("/v1/customers/acme/connection", headers=tenants.headers("acme", Role.OPERATOR))
        ).status_code == 403
        assert (await api.get("/v1/customers/globex/connection", headers=admin)).status_code == 403

    async with api_sessions() as session:
        row = await session.get(CustomerConnectionRow, "acme")
        assert row is not None and row.ciphertext is not None and b"acme-7f3c" not in row.ciphertext
        opened = await load_connection(
            session=session, cipher=cipher_from_settings(settings), customer_id="acme"
        )
    assert opened is not None and opened.secrets.aws_external_id is not None
    assert opened.secrets.aws_external_id.get_secret_value() == "acme-7f3c-secret"
    assert opened.secrets.prometheus_token is None


async def test_without_a_master_key_a_secret_is_refused_and_nothing_stored(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/customers/acme", json={"name": "Acme"})).status_code == 200
    refused = await api.put("/v1/customers/acme/connection", json=BODY)
    assert refused.status_code == 409
    assert "OPTIINFRA_CONNECTION_KEY" in refused.json()["detail"]
    assert (await api.get("/v1/customers/acme/connection")).status_code == 404
    spec_only = await api.put("/v1/customers/acme/connection", json={"spec": BODY["spec"]})
    assert spec_only.status_code == 200 and spec_only.json()["secrets_set"] == []
