"""Signing in to the portal with the customer's identity provider: an OpenID provider the test serves on
loopback (tests/portal/identity_provider.py) is registered for the demo customer through the API, and the
person goes from the sign-in page to the provider and back (authorization code with PKCE) to the Dashboard.
Each browser context may reach the stack's origin and, in the tests that use it, the provider's origin:
nothing else. Every test leaves the demo customer without a provider, as the rest of the tier expects."""

import json
import re
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from playwright.async_api import Page, Response, expect

from tests.portal.conftest import Browsing, ExpectedConsole
from tests.portal.identity_provider import OpenIdProvider, Person, s256, serving_provider
from tests.portal.stack import CUSTOMER, PortalStack

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PROVIDER_PATH = f"/v1/customers/{CUSTOMER}/identity-provider"
CLIENT_ID = "optiinfra-portal-e2e"
PERSON = Person(sub="u-4711", email="ana.sso@demo.example", role="approver")
PRINCIPAL_NAME = f"oidc:{PERSON.email}"
JWT_SHAPE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
BASE64URL_TOKEN = re.compile(r"[A-Za-z0-9_-]{43,128}")
NO_PROVIDER = f"No identity provider is configured for customer {CUSTOMER}."


async def storage_values(page: Page, storage: str) -> list[str]:
    values: list[str] = await page.evaluate(f"Object.values({storage})")
    return values


async def start_sso(page: Page, customer: str = CUSTOMER) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("textbox", name="Customer", exact=True).fill(customer)
    await page.get_by_role("button", name="Sign in with SSO", exact=True).click()


@pytest.fixture
async def identity_provider(
    stack: PortalStack, admin_api: httpx.AsyncClient
) -> AsyncIterator[OpenIdProvider]:
    """The provider, served and registered for the demo customer while the test runs; unregistered after."""
    before = await admin_api.get(PROVIDER_PATH)
    assert before.status_code == 404, f"the demo customer already has an identity provider: {before.text}"
    provider = OpenIdProvider(
        client_id=CLIENT_ID, redirect_uri=f"{stack.base_url}/auth/callback", person=PERSON
    )
    async with serving_provider(provider):
        registered = await admin_api.put(PROVIDER_PATH, json=provider.registration())
        assert registered.status_code == 200, registered.text
        try:
            yield provider
        finally:
            deleted = await admin_api.delete(PROVIDER_PATH)
            assert deleted.status_code == 204, deleted.text
            after = await admin_api.get(PROVIDER_PATH)
            assert after.status_code == 404, after.text


@pytest.fixture
def sso_page(browsing: Browsing, identity_provider: OpenIdProvider) -> Page:
    """The test's page, whose context may also reach the provider's origin (and still nothing else)."""
    browsing.watch.allow_origin(identity_provider.origin)
    return browsing.page


async def test_signing_in_with_the_customers_identity_provider(
    stack: PortalStack, identity_provider: OpenIdProvider, sso_page: Page
) -> None:
    page = sso_page
    sessions: list[Response] = []
    page.on("response", lambda response: sessions.append(response) if "/v1/session" in response.url else None)

    await start_sso(page)

    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    assert page.url == f"{stack.base_url}/", page.url  # the code and state are gone from the address bar
    banner = page.get_by_role("banner")
    await expect(banner).to_contain_text(f"Signed in as {PRINCIPAL_NAME}")
    await expect(banner.get_by_text(PERSON.role, exact=True)).to_be_visible()
    await expect(banner).to_contain_text(f"customer {CUSTOMER}")

    # The provider saw the portal read its discovery document, one authorization request with PKCE
    # (S256), state and nonce, one code exchange whose verifier matched, and then the API (server side, no
    # Origin) fetch its keys to verify the token; nothing else.
    portal = stack.base_url
    asked = [str(request) for request in identity_provider.requests if request.method != "OPTIONS"]
    assert asked[:3] == [
        f"GET /.well-known/openid-configuration from {portal}",
        "GET /authorize",
        f"POST /token from {portal}",
    ], asked
    assert set(asked[3:]) == {"GET /jwks"}, asked
    assert identity_provider.refused_authorizations == []
    (authorization,) = identity_provider.authorizations
    assert authorization["response_type"] == "code"
    assert authorization["client_id"] == CLIENT_ID
    assert authorization["redirect_uri"] == f"{stack.base_url}/auth/callback"
    assert authorization["code_challenge_method"] == "S256"
    assert "openid" in authorization["scope"].split()
    assert authorization.get("state") and authorization.get("nonce"), authorization
    (exchange,) = identity_provider.exchanges
    assert exchange.error is None, exchange
    id_token = exchange.id_token
    assert id_token is not None
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert claims["nonce"] == authorization["nonce"]

    # The ID token is the credential, kept in sessionStorage only; the verifier is not left behind.
    session_values = await storage_values(page, "sessionStorage")
    assert id_token in session_values, "the ID token is not the credential kept in sessionStorage"
    assert all(id_token not in value for value in await storage_values(page, "localStorage"))
    assert all(id_token not in cookie["value"] for cookie in await page.context.cookies())
    leftover = [
        token
        for value in session_values
        for token in BASE64URL_TOKEN.findall(value)
        if s256(token) == authorization["code_challenge"]
    ]
    assert not leftover, "the PKCE code verifier is still in sessionStorage after the sign-in"

    # The portal's own /v1/session call carried the ID token and the API accepted it.
    accepted = [
        response
        for response in sessions
        if response.status == 200
        and await response.request.header_value("authorization") == f"Bearer {id_token}"
    ]
    assert accepted, [f"{response.status} {response.url}" for response in sessions]
    session = await accepted[0].json()
    assert session["principal"]["name"] == PRINCIPAL_NAME
    assert session["principal"]["role"] == PERSON.role
    assert session["principal"]["customer_id"] == CUSTOMER
    async with stack.api(id_token) as api:
        direct = await api.get("/v1/session")
    assert direct.status_code == 200, direct.text
    assert direct.json()["principal"]["name"] == PRINCIPAL_NAME

    # The provider is strict: the code the browser used cannot be exchanged again.
    async with httpx.AsyncClient(base_url=identity_provider.issuer) as http:
        replayed = await http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": exchange.code,
                "redirect_uri": f"{stack.base_url}/auth/callback",
                "client_id": CLIENT_ID,
                "code_verifier": "x" * 43,
            },
        )
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_grant"


async def test_a_customer_without_an_identity_provider_is_told_so(
    stack: PortalStack, page: Page, expected_console: ExpectedConsole
) -> None:
    expected_console.http_error(
        404, "/v1/auth/oidc", "the demo customer has no identity provider: the API answers its documented 404"
    )
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        asked = await anonymous.get("/v1/auth/oidc", params={"customer_id": CUSTOMER})
    assert asked.status_code == 404, asked.text

    await start_sso(page)

    await expect(page.get_by_role("alert")).to_contain_text(NO_PROVIDER)
    await expect(page.get_by_role("button", name="Sign in with SSO", exact=True)).to_be_enabled()
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
    assert page.url.endswith("/sign-in"), page.url
    assert not [value for value in await storage_values(page, "sessionStorage") if JWT_SHAPE.match(value)]


async def test_a_refused_code_verifier_shows_the_error_and_signs_nobody_in(
    stack: PortalStack, identity_provider: OpenIdProvider, sso_page: Page, expected_console: ExpectedConsole
) -> None:
    page = sso_page
    expected_console.http_error(
        400, "/token", "the provider refuses the code verifier at its token endpoint: 400 invalid_grant"
    )
    identity_provider.refuse_code_verifier = True

    await start_sso(page)

    await expect(page.get_by_role("alert")).to_contain_text(
        "The identity provider did not issue an ID token: code_verifier does not match the challenge"
    )
    assert "/auth/callback" in page.url, page.url
    (exchange,) = identity_provider.exchanges
    assert (exchange.error, exchange.id_token) == ("invalid_grant", None), exchange
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
    session_values = await storage_values(page, "sessionStorage")
    assert not [value for value in session_values if JWT_SHAPE.match(value)], json.dumps(session_values)

    await page.get_by_role("link", name="Back to sign-in", exact=True).click()
    await expect(page.get_by_role("button", name="Sign in with SSO", exact=True)).to_be_visible()
    await page.goto("/")  # nobody is signed in: back to sign-in
    await expect(page.get_by_role("textbox", name="Customer", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
