"""People sign in with their company's identity provider: tokens signed with a key the test generates and
publishes as a JWKS on a loopback server, as an IdP publishes its keys."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.api.tenancy import WORKLOAD

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ISSUER = "https://login.acme.example/"
AUDIENCE = "optiinfra"
KID = "acme-key-1"


@dataclass
class IdentityProvider:
    jwks_url: str
    private_key: rsa.RSAPrivateKey

    def token(self, key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "u-123",
            "email": "ana@acme.example",
            "iat": now,
            "exp": now + 300,
            "optiinfra_role": "approver",
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.private_key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture
def identity_provider() -> Iterator[IdentityProvider]:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private_key)
    finally:
        server.shutdown()
        server.server_close()


async def _register(api: httpx.AsyncClient, provider: IdentityProvider, **extra: Any) -> None:
    for customer in ("acme", "globex"):
        assert (await api.put(f"/v1/customers/{customer}", json={"name": customer})).status_code == 200
        assert (await api.put(f"/v1/customers/{customer}/workloads/chat", json=WORKLOAD)).status_code == 200
    body = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": provider.jwks_url, **extra}
    registered = await api.put("/v1/customers/acme/identity-provider", json=body)
    assert registered.status_code == 200, registered.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_from_the_customers_provider_acts_with_its_role(
    api: httpx.AsyncClient, identity_provider: IdentityProvider
) -> None:
    await _register(api, identity_provider)
    ana = _bearer(identity_provider.token())
    listed = await api.get("/v1/workloads", headers=ana)
    assert listed.status_code == 200
    assert [w["customer_id"] for w in listed.json()["items"]] == ["acme"]
    # An approver: no policy changes, and no other customer.
    assert (await api.put("/v1/customers/acme", json={"name": "x"}, headers=ana)).status_code == 403
    assert (await api.get("/v1/workloads?customer_id=globex", headers=ana)).status_code == 403
    admin = _bearer(identity_provider.token(optiinfra_role="admin"))
    changed = await api.put("/v1/customers/acme", json={"name": "Acme Corp"}, headers=admin)
    assert changed.status_code == 200
    audit = (await api.get("/v1/audit", params={"action": "customer.updated"}, headers=admin)).json()
    assert [line["actor"] for line in audit["items"]] == ["oidc:ana@acme.example"]


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"aud": "someone-else"}, "Audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://evil.example/"}, "issuer"),
        ({"optiinfra_role": "owner"}, "not a role"),
        ({"optiinfra_role": None}, "no optiinfra_role claim"),
        ({"sub": None, "email": None}, "sub"),
    ],
)
async def test_a_token_that_does_not_verify_is_a_401(
    api: httpx.AsyncClient, identity_provider: IdentityProvider, overrides: dict[str, Any], why: str
) -> None:
    await _register(api, identity_provider)
    response = await api.get("/v1/workloads", headers=_bearer(identity_provider.token(**overrides)))
    assert response.status_code == 401
    assert why in response.json()["detail"]


async def test_a_token_signed_with_another_key_is_a_401(
    api: httpx.AsyncClient, identity_provider: IdentityProvider
) -> None:
    await _register(api, identity_provider)
    forged = identity_provider.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    response = await api.get("/v1/workloads", headers=_bearer(forged))
    assert response.status_code == 401
    assert "signature" in response.json()["detail"].lower()


async def test_the_providers_default_role_serves_tokens_without_the_claim(
    api: httpx.AsyncClient, identity_provider: IdentityProvider
) -> None:
    await _register(api, identity_provider, default_role="viewer")
    viewer = _bearer(identity_provider.token(optiinfra_role=None))
    assert (await api.get("/v1/workloads", headers=viewer)).status_code == 200
    refused = await api.post("/v1/recommendations/any/approve", json={"reason": "x"}, headers=viewer)
    assert refused.status_code == 403


async def test_one_issuer_serves_one_customer(
    api: httpx.AsyncClient, identity_provider: IdentityProvider
) -> None:
    await _register(api, identity_provider)
    body = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": identity_provider.jwks_url}
    taken = await api.put("/v1/customers/globex/identity-provider", json=body)
    assert taken.status_code == 409
