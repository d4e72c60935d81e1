"""`/v1/codec/encode` and `/decode`, the codec endpoint the Temporal UI reads OptiInfra's payloads through:
a large payload comes back compressed and decodes to itself; payloads that are not Temporal's JSON form
are a 422; a customer's key, even an admin's, is a 403 (decoded payloads hold every customer's data)."""

import base64

import httpx
import pytest

from optiinfra.access.principal import Role
from optiinfra.engine.codec import ENCODING
from tests.api.tenancy import make_tenants

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
