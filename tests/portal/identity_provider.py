"""A minimal OpenID provider for the portal's single sign-on tests, served over real HTTP on 127.0.0.1
(uvicorn on a free port, in the test's event loop) with an RSA key it generates: discovery, the
authorization endpoint (which signs its one configured person in at once and redirects back with a code),
the token endpoint (authorization code with PKCE, S256 only, each code good once) and the key set. The
browser calls discovery and the token endpoint from the portal's origin, so those answer CORS (preflight
included); the API fetches the key set from the server side.

It keeps what it was asked and what it answered, so a test can tell the flow went the way it should, and it
can be told to refuse: `refuse_code_verifier` makes it remember a challenge other than the one sent, so the
verifier the browser presents at the token endpoint fails the S256 check and the exchange answers 400
invalid_grant, as a provider does when the verifier does not match."""

import asyncio
import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from optiinfra.engine.devserver import free_port

KID = "portal-e2e-key-1"
TOKEN_LIFETIME_S = 600
CODE_LIFETIME_S = 120
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Accept, Content-Type, Authorization"
BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a verifier: base64url(sha256(ascii(verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Person:
    """Who the provider signs in: the ID token's `sub`, `email`, and the role claim's value."""

    sub: str
    email: str
    role: str


@dataclass
class Grant:
    """An authorization code, as issued to one authorization request."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    issued_at: float
    used: bool = False


@dataclass(frozen=True)
class Exchange:
    """One call of the token endpoint: the error it answered (None: it issued `id_token`)."""

    code: str
    error: str | None
    description: str | None
    id_token: str | None


@dataclass(frozen=True)
class Seen:
    """A request the provider answered; `origin` is its Origin header (a browser's cross-origin fetch)."""

    method: str
    path: str
    origin: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" from {self.origin}" if self.origin else "")


@dataclass
class OpenIdProvider:
    """The provider's state. `issuer` is set once it serves (it names the port)."""

    client_id: str
    redirect_uri: str
    person: Person
    role_claim: str = "optiinfra_role"
    refuse_code_verifier: bool = False
    issuer: str = ""
    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    grants: dict[str, Grant] = field(default_factory=dict)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    """The query of each authorization request it granted."""
    refused_authorizations: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    """Every request, in order."""

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def allowed_origin(self) -> str:
        """The one origin whose scripts may read its answers: the portal's, where `redirect_uri` lies."""
        parts = urlsplit(self.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}"

    def registration(self, **extra: Any) -> dict[str, Any]:
        """The body of PUT /v1/customers/{customer}/identity-provider that trusts this provider."""
        return {
            "issuer": self.issuer,
            "audience": self.client_id,
            "jwks_url": self.jwks_url,
            "role_claim": self.role_claim,
            **extra,
        }

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": self.person.sub,
            "email": self.person.email,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            self.role_claim: self.person.role,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KID})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    # The endpoints.

    def _seen(self, request: Request) -> None:
        self.requests.append(Seen(request.method, request.url.path, request.headers.get("origin")))

    def _cors(self, request: Request, response: Response) -> Response:
        origin = request.headers.get("origin")
        if origin == self.allowed_origin:
            response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    async def _preflight(self, request: Request) -> Response:
        self._seen(request)
        response = Response(status_code=204)
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return self._cors(request, response)

    async def discovery(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return await self._preflight(request)
        self._seen(request)
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email"],
        }
        return self._cors(request, JSONResponse(document))

    async def keys(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return await self._preflight(request)
        self._seen(request)
        return self._cors(request, JSONResponse(self.jwks()))

    async def authorize(self, request: Request) -> Response:
        self._seen(request)
        query = dict(request.query_params)
        # Without a known client and its registered redirect URI the provider must not redirect at all.
        if query.get("client_id") != self.client_id:
            return self._refuse_page(f"unknown client_id {query.get('client_id')!r}")
        if query.get("redirect_uri") != self.redirect_uri:
            return self._refuse_page(f"redirect_uri {query.get('redirect_uri')!r} is not registered")
        state = query.get("state")
        challenge = query.get("code_challenge", "")
        problem = None
        if query.get("response_type") != "code":
            problem = ("unsupported_response_type", "only response_type=code")
        elif query.get("code_challenge_method") != "S256":
            problem = ("invalid_request", "PKCE with code_challenge_method=S256 is required")
        elif len(challenge) != 43 or not set(challenge) <= BASE64URL:
            problem = ("invalid_request", "code_challenge is not a base64url SHA-256 digest")
        elif not state:
            problem = ("invalid_request", "state is required")
        elif "openid" not in query.get("scope", "").split():
            problem = ("invalid_scope", "the openid scope is required")
        if problem is not None:
            self.refused_authorizations.append(f"{problem[0]}: {problem[1]}")
            answer = {"error": problem[0], "error_description": problem[1]}
            if state:
                answer["state"] = state
            return RedirectResponse(f"{self.redirect_uri}?{urlencode(answer)}", status_code=302)
        if self.refuse_code_verifier:  # remember another challenge: the verifier presented will not match
            challenge = s256(secrets.token_urlsafe(32))
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            code_challenge=challenge,
            nonce=query.get("nonce"),
            issued_at=time.monotonic(),
        )
        self.authorizations.append(query)
        answer = {"code": code, "state": state}
        return RedirectResponse(f"{self.redirect_uri}?{urlencode(answer)}", status_code=302)

    def _refuse_page(self, why: str) -> Response:
        self.refused_authorizations.append(why)
        return PlainTextResponse(f"The sign-in request was refused: {why}\n", status_code=400)

    async def token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return await self._preflight(request)
        self._seen(request)
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            return self._token_error(request, "", "invalid_request", "the body must be form-encoded")
        form = {name: values[0] for name, values in parse_qs((await request.body()).decode()).items()}
        code = form.get("code", "")
        if form.get("grant_type") != "authorization_code":
            return self._token_error(request, code, "unsupported_grant_type", "only authorization_code")
        grant = self.grants.get(code)
        if grant is None:
            return self._token_error(request, code, "invalid_grant", "unknown authorization code")
        if grant.used:
            return self._token_error(
                request, code, "invalid_grant", "the authorization code was already used"
            )
        grant.used = True  # good once, whatever the outcome (RFC 6749 4.1.2)
        if time.monotonic() - grant.issued_at > CODE_LIFETIME_S:
            return self._token_error(request, code, "invalid_grant", "the authorization code expired")
        if form.get("client_id") != grant.client_id:
            return self._token_error(request, code, "invalid_client", "client_id does not match the code's")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._token_error(request, code, "invalid_grant", "redirect_uri does not match the code's")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128:
            return self._token_error(request, code, "invalid_grant", "code_verifier is missing or malformed")
        if not secrets.compare_digest(s256(verifier), grant.code_challenge):
            return self._token_error(
                request, code, "invalid_grant", "code_verifier does not match the challenge"
            )
        id_token = self.id_token(grant.nonce)
        self.exchanges.append(Exchange(code=code, error=None, description=None, id_token=id_token))
        response = JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
        return self._cors(request, response)

    def _token_error(self, request: Request, code: str, error: str, description: str) -> Response:
        self.exchanges.append(Exchange(code=code, error=error, description=description, id_token=None))
        response = JSONResponse(
            {"error": error, "error_description": description},
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )
        return self._cors(request, response)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery, methods=["GET", "OPTIONS"]),
                Route("/authorize", self.authorize, methods=["GET"]),
                Route("/token", self.token, methods=["POST", "OPTIONS"]),
                Route("/jwks", self.keys, methods=["GET", "OPTIONS"]),
            ]
        )


@asynccontextmanager
async def serving_provider(provider: OpenIdProvider) -> AsyncIterator[OpenIdProvider]:
    """The provider served on 127.0.0.1 on a free port while the context lasts; its issuer names the port."""
    port = free_port()
    provider.issuer = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it stopped
            raise RuntimeError("the identity provider stopped before it started serving")
        await asyncio.sleep(0.05)
    try:
        yield provider
    finally:
        server.should_exit = True
        await serving
