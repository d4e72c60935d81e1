"""People sign in with their company's identity provider: an OIDC ID or access token (a JWT) whose
issuer is registered for one customer. The token is verified against the provider's published keys
(JWKS), its audience and issuer, and its expiry; its role comes from a claim (or the provider's default).
"""

import asyncio
from typing import Any

import jwt
from pydantic import BaseModel, Field

from optiinfra.access.principal import Principal, Role

# Asymmetric algorithms only: a provider's key set is public, so an HMAC "key" from it would be no secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
JWKS_TIMEOUT_S = 10.0


class IdentityProvider(BaseModel):
    """A customer's identity provider, as its admin registers it."""

    customer_id: str
    issuer: str = Field(min_length=1, max_length=512, description="The tokens' `iss`, exactly")
    audience: str = Field(min_length=1, max_length=255, description="The `aud` tokens must carry")
    jwks_url: str = Field(max_length=2083, description="Where the provider publishes its signing keys")
    role_claim: str = Field(default="optiinfra_role", min_length=1, max_length=64)
    default_role: Role | None = Field(
        default=None, description="The role of a token without the claim; none: such tokens are refused"
    )


class OidcError(ValueError):
    """Why a token was refused, in one line."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.isascii()


def unverified_issuer(token: str) -> str:
    """The `iss` a token claims: only to find which provider must verify it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise OidcError(f"not a JWT: {error}") from error
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise OidcError("the token names no issuer")
    return issuer


class OidcVerifier:
    """Verifies tokens against their provider's key set, kept per JWKS URL (refetched when a token names
    a key id the cached set lacks, as providers rotate keys)."""

    def __init__(self) -> None:
        self._clients: dict[str, jwt.PyJWKClient] = {}

    async def principal_of(self, token: str, provider: IdentityProvider) -> Principal:
        key = await asyncio.to_thread(self._signing_key, token, provider.jwks_url)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=provider.audience,
                issuer=provider.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as error:
            raise OidcError(str(error)) from error
        return Principal(
            name=f"oidc:{_display_name(claims)}",
            role=_role_of(claims, provider),
            customer_id=provider.customer_id,
        )

    def _signing_key(self, token: str, jwks_url: str) -> Any:
        client = self._clients.setdefault(jwks_url, jwt.PyJWKClient(jwks_url, timeout=JWKS_TIMEOUT_S))
        try:
            return client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as error:
            raise OidcError(f"the provider's keys could not be fetched from {jwks_url}") from error
        except jwt.PyJWTError as error:
            raise OidcError(str(error)) from error


def _display_name(claims: dict[str, Any]) -> str:
    for claim in ("email", "preferred_username", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value[:200]
    raise OidcError("the token names no subject")


def _role_of(claims: dict[str, Any], provider: IdentityProvider) -> Role:
    value = claims.get(provider.role_claim)
    if value is None:
        if provider.default_role is None:
            raise OidcError(f"the token carries no {provider.role_claim} claim")
        return provider.default_role
    try:
        return Role(value)
    except ValueError as error:
        raise OidcError(f"{provider.role_claim} {value!r} is not a role") from error
