"""A customer's credentials (admins only): its API keys, its OIDC identity provider, and its connections to
its own infrastructure."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Admin, SessionsDep, SettingsDep, require_customer
from api.errors import CONFLICT, NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER, Page, PageQuery
from optiinfra.access.oidc import IdentityProvider
from optiinfra.access.principal import Principal, Role
from optiinfra.connections.envelope import SealError
from optiinfra.connections.model import ConnectionSecrets, ConnectionSpec, ConnectionView
from optiinfra.connections.store import (
    cipher_from_settings,
    delete_connection,
    get_connection_view,
    put_connection,
)
from optiinfra.store import repository
from optiinfra.store.api_keys import ApiKey, create_api_key, get_api_key, page_api_keys, revoke_api_key
from optiinfra.store.identity_providers import (
    IssuerTakenError,
    delete_identity_provider,
    get_identity_provider,
    put_identity_provider,
)

router = APIRouter(prefix="/customers", tags=["access"], route_class=StrictJSONRoute)

CustomerId = Annotated[str, Path(pattern=IDENTIFIER)]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]
MAX_KEY_DAYS = 3650
MAX_JWKS_URL = 2000


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    role: Role
    expires_in_days: int | None = Field(default=90, ge=1, le=MAX_KEY_DAYS, description="null: never")


class KeyCreated(BaseModel):
    key: ApiKey
    token: str = Field(description="The key itself: shown this once, never stored")


class IdentityProviderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1, max_length=512)
    audience: str = Field(min_length=1, max_length=255)
    jwks_url: HttpUrl
    role_claim: str = Field(default="optiinfra_role", min_length=1, max_length=64)
    default_role: Role | None = None

    @field_validator("jwks_url")
    @classmethod
    def _storable(cls, url: HttpUrl) -> HttpUrl:
        """The URL as normalised (IDNA, a trailing slash) must still fit what the store keeps."""
        if len(str(url)) > MAX_JWKS_URL:
            raise ValueError(f"the URL is longer than {MAX_JWKS_URL} characters once normalised")
        return url


async def _audited(
    session: AsyncSession,
    principal: Principal,
    action: str,
    subject: str,
    customer_id: str,
    *,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    """The audit line of a credential write: who, what, and the state before and after (never a secret:
    keys, providers and connection views hold none)."""
    await repository.append_audit(
        session=session,
        actor=principal.name,
        action=action,
        subject=subject,
        customer_id=customer_id,
        detail={},
        before=before,
        after=after,
    )


async def _require_known_customer(sessions: SessionsDep, customer_id: str) -> None:
    async with sessions() as session:
        if await repository.get_customer(session=session, customer_id=customer_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {customer_id}")


@router.post("/{customer_id}/api-keys", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def create_key(
    customer_id: CustomerId, body: KeyCreate, sessions: SessionsDep, principal: Admin
) -> KeyCreated:
    """A key for this customer with one role; its token is in this answer only. Audited (not the token)."""
    require_customer(principal, customer_id)
    await _require_known_customer(sessions, customer_id)
    expires = (
        None if body.expires_in_days is None else datetime.now(UTC) + timedelta(days=body.expires_in_days)
    )
    async with sessions.begin() as session:
        key, token = await create_api_key(
            session=session,
            customer_id=customer_id,
            role=body.role,
            name=body.name,
            created_by=principal.name,
            expires_at=expires,
        )
        await _audited(session, principal, "api_key.created", f"key:{key.key_id}", customer_id, after=key)
    return KeyCreated(key=key, token=token)


@router.get("/{customer_id}/api-keys")
async def list_keys(
    customer_id: CustomerId, sessions: SessionsDep, principal: Admin, paging: PageQuery
) -> Page[ApiKey]:
    """The customer's keys, newest first, revoked and expired ones included; never a secret."""
    require_customer(principal, customer_id)
    async with sessions() as session:
        items, total = await page_api_keys(
            session=session, customer_id=customer_id, limit=paging.limit, offset=paging.offset
        )
    return Page.of(items, total, paging)


@router.delete("/{customer_id}/api-keys/{key_id}", responses=NOT_FOUND)
async def revoke_key(
    customer_id: CustomerId, key_id: KeyId, sessions: SessionsDep, principal: Admin
) -> ApiKey:
    """Revoke a key: requests with it get 401 from now on. Revoking again changes nothing."""
    require_customer(principal, customer_id)
    async with sessions.begin() as session:
        before = await get_api_key(session=session, key_id=key_id)
        if before is None or before.customer_id != customer_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no API key {key_id} for {customer_id}")
        after = await revoke_api_key(session=session, key_id=key_id)
        if before.revoked_at is None:
            await _audited(
                session,
                principal,
                "api_key.revoked",
                f"key:{key_id}",
                customer_id,
                before=before,
                after=after,
            )
    return after


@router.get("/{customer_id}/identity-provider", responses=NOT_FOUND)
async def get_provider(customer_id: CustomerId, sessions: SessionsDep, principal: Admin) -> IdentityProvider:
    require_customer(principal, customer_id)
    async with sessions() as session:
        found = await get_identity_provider(session=session, customer_id=customer_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{customer_id} has no identity provider")
    return found


@router.put("/{customer_id}/identity-provider", responses=NOT_FOUND | CONFLICT)
async def put_provider(
    customer_id: CustomerId, body: IdentityProviderBody, sessions: SessionsDep, principal: Admin
) -> IdentityProvider:
    """Let people sign in with the customer's identity provider: bearer JWTs from `issuer` for `audience`,
    signed with a key from `jwks_url`, act for this customer with the role in `role_claim` (or
    `default_role`). 409 when another customer registered the issuer."""
    require_customer(principal, customer_id)
    await _require_known_customer(sessions, customer_id)
    provider = IdentityProvider(customer_id=customer_id, **body.model_dump(mode="json"))
    async with sessions.begin() as session:
        before = await get_identity_provider(session=session, customer_id=customer_id)
        try:
            saved = await put_identity_provider(session=session, provider=provider)
        except IssuerTakenError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
        await _audited(
            session, principal, "identity_provider.put", customer_id, customer_id, before=before, after=saved
        )
    return saved


@router.delete(
    "/{customer_id}/identity-provider", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def delete_provider(customer_id: CustomerId, sessions: SessionsDep, principal: Admin) -> Response:
    """Stop accepting the provider's tokens for this customer."""
    require_customer(principal, customer_id)
    async with sessions.begin() as session:
        before = await get_identity_provider(session=session, customer_id=customer_id)
        if before is None or not await delete_identity_provider(session=session, customer_id=customer_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{customer_id} has no identity provider")
        await _audited(
            session, principal, "identity_provider.deleted", customer_id, customer_id, before=before
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class ConnectionBody(BaseModel):
    """The customer's connections; secrets are write-only (left out: kept; empty: cleared)."""

    model_config = ConfigDict(extra="forbid")

    spec: ConnectionSpec = Field(default_factory=ConnectionSpec)
    secrets: ConnectionSecrets = Field(default_factory=ConnectionSecrets)


@router.get("/{customer_id}/connection", responses=NOT_FOUND)
async def get_connection(customer_id: CustomerId, sessions: SessionsDep, principal: Admin) -> ConnectionView:
    """Where the customer's infrastructure is, and which secrets are set (never their values)."""
    require_customer(principal, customer_id)
    async with sessions() as session:
        found = await get_connection_view(session=session, customer_id=customer_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{customer_id} has no connection")
    return found


@router.put("/{customer_id}/connection", responses=NOT_FOUND | CONFLICT)
async def put_connection_route(
    customer_id: CustomerId,
    body: ConnectionBody,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Admin,
) -> ConnectionView:
    """Act on the customer's own AWS account (its role, assumed with its external id, in each workload's
    region), cluster and Prometheus. Secrets are sealed under the server's master key (409 when none is
    configured) and never returned. Audited, without secrets."""
    require_customer(principal, customer_id)
    await _require_known_customer(sessions, customer_id)
    try:
        cipher = cipher_from_settings(settings)
    except SealError:
        cipher = None
    async with sessions.begin() as session:
        before = await get_connection_view(session=session, customer_id=customer_id)
        try:
            saved = await put_connection(
                session=session, cipher=cipher, customer_id=customer_id, spec=body.spec, secrets=body.secrets
            )
        except SealError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
        await _audited(
            session, principal, "connection.put", customer_id, customer_id, before=before, after=saved
        )
    return saved


@router.delete("/{customer_id}/connection", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_connection_route(
    customer_id: CustomerId, sessions: SessionsDep, principal: Admin
) -> Response:
    """Act on the customer in the platform's default account again."""
    require_customer(principal, customer_id)
    async with sessions.begin() as session:
        before = await get_connection_view(session=session, customer_id=customer_id)
        if before is None or not await delete_connection(session=session, customer_id=customer_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{customer_id} has no connection")
        await _audited(session, principal, "connection.deleted", customer_id, customer_id, before=before)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
