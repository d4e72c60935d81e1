"""Who the caller is (`/v1/session`), and how a browser signs a person in with their customer's identity
provider (`/v1/auth/oidc`, asked before holding any credential)."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.access.principal import Role
from optiinfra.settings import Settings
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import make_tenants
from tests.support.asgi import api_client

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_session_names_each_keys_principal_and_role(api: httpx.AsyncClient) -> None:
    tenants = await make_tenants(api)
    for role in Role:
        response = await api.get("/v1/session", headers=tenants.headers("globex", role))
        assert response.status_code == 200, response.text
        key_id = tenants.key_ids["globex"][role]
        assert response.json() == {
            "principal": {
                "name": f"key:{key_id} ({role.value}-key)",
                "role": role.value,
                "customer_id": "globex",
            },
            "temporal_ui_url": None,
            "temporal_namespace": "default",
        }


async def test_the_platform_token_is_an_admin_of_no_one_customer(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/session")
    assert response.status_code == 200
    assert response.json()["principal"] == {"name": "platform-token", "role": "admin", "customer_id": None}


async def test_the_session_links_to_the_configured_temporal_ui(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(
        temporal_task_queue="api-tests", temporal_ui_url="http://127.0.0.1:8233/", temporal_namespace="ops"
    )
    async with api_client(settings, token=API_TOKEN, client=temporal_client, sessions=api_sessions) as http:
        found = (await http.get("/v1/session")).json()
    assert (found["temporal_ui_url"], found["temporal_namespace"]) == ("http://127.0.0.1:8233", "ops")


async def test_the_session_needs_a_credential(api: httpx.AsyncClient) -> None:
    api.headers.pop("Authorization")
    assert (await api.get("/v1/session")).status_code == 401
    wrong = await api.get("/v1/session", headers={"Authorization": "Bearer oik_nope"})
    assert wrong.status_code == 401


async def test_sign_in_tells_the_customers_provider_without_a_credential(api: httpx.AsyncClient) -> None:
    for customer in ("acme", "globex"):
        assert (await api.put(f"/v1/customers/{customer}", json={"name": customer})).status_code == 200
    provider = {
        "issuer": "https://login.acme.example/",
        "audience": "optiinfra-console",
        "jwks_url": "https://login.acme.example/jwks.json",
    }
    assert (await api.put("/v1/customers/acme/identity-provider", json=provider)).status_code == 200
    api.headers.pop("Authorization")

    found = await api.get("/v1/auth/oidc", params={"customer_id": "acme"})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "issuer": "https://login.acme.example/",
        "client_id": "optiinfra-console",
        "scopes": "openid profile email",
    }
    # A customer without a provider and one that does not exist get the same answer.
    without = await api.get("/v1/auth/oidc", params={"customer_id": "globex"})
    unknown = await api.get("/v1/auth/oidc", params={"customer_id": "initech"})
    assert (without.status_code, unknown.status_code) == (404, 404)
    assert without.json()["detail"].replace("globex", "X") == unknown.json()["detail"].replace("initech", "X")
    assert "jwks" not in found.text
    assert (await api.get("/v1/auth/oidc", params={"customer_id": "Not An Id"})).status_code == 422
    assert (await api.get("/v1/auth/oidc")).status_code == 422
