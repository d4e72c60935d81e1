"""`/v1/codec/encode` and `/decode`, the codec endpoint the Temporal UI reads OptiInfra's payloads through:
a large payload comes back compressed and decodes to itself; payloads that are not Temporal's JSON form
are a 422; a customer's key, even an admin's, is a 403 (decoded payloads hold every customer's data)."""

import base64

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.access.principal import Role
from optiinfra.engine.codec import ENCODING
from optiinfra.settings import Settings
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import make_tenants
from tests.support.asgi import api_client

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


LARGE = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b"[" + b"1.5," * 4000 + b"1]")}
SMALL = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'{"ok": true}')}


async def test_a_large_payload_is_encoded_compressed_and_decodes_back(api: httpx.AsyncClient) -> None:
    encoded = await api.post("/v1/codec/encode", json={"payloads": [LARGE, SMALL]})
    assert encoded.status_code == 200, encoded.text
    large, small = encoded.json()["payloads"]
    assert base64.b64decode(large["metadata"]["encoding"]) == ENCODING
    assert len(large["data"]) < len(LARGE["data"]) / 10
    assert small == SMALL
    decoded = await api.post("/v1/codec/decode", json=encoded.json())
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [LARGE, SMALL]}


@pytest.mark.parametrize(
    "body",
    [
        {"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]},
        {"payloads": [{"metadata": {"encoding": _b64(ENCODING)}, "data": _b64(b"not zlib")}]},
        {"payloads": "none"},
        {"events": []},
    ],
)
async def test_what_is_not_a_temporal_payload_is_a_422(api: httpx.AsyncClient, body: object) -> None:
    response = await api.post("/v1/codec/decode", json=body)
    assert response.status_code == 422, response.text


async def test_a_customers_key_may_not_decode(api: httpx.AsyncClient) -> None:
    tenants = await make_tenants(api)
    refused = await api.post(
        "/v1/codec/decode", json={"payloads": [SMALL]}, headers=tenants.headers("acme", Role.ADMIN)
    )
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this needs a platform admin"}


async def test_the_temporal_ui_may_call_from_its_origin_and_no_other_origin_may(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(temporal_task_queue="api-tests", temporal_ui_url="http://ui.example:8080/namespaces")
    async with api_client(settings, token=API_TOKEN, client=temporal_client, sessions=api_sessions) as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = await http.options(
            "/v1/codec/decode", headers={"Origin": "http://ui.example:8080", **preflight}
        )
        other = await http.options("/v1/codec/decode", headers={"Origin": "http://evil.example", **preflight})
        decoded = await http.post(
            "/v1/codec/decode", json={"payloads": [SMALL]}, headers={"Origin": "http://ui.example:8080"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example:8080"
    assert "access-control-allow-origin" not in other.headers
    assert decoded.status_code == 200 and decoded.json() == {"payloads": [SMALL]}
    assert decoded.headers["access-control-allow-origin"] == "http://ui.example:8080"
