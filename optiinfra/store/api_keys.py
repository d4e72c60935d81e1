"""API keys in the store: made (the token is returned once, never kept), listed, revoked, and resolved to
the principal a request acts as."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.access.keys import new_key, secret_matches, split_key
from optiinfra.access.principal import Principal, Role
from optiinfra.store.repository import page
from optiinfra.store.tables import ApiKeyRow, utc_now


class ApiKey(BaseModel):
    """A key as it is shown: never its secret."""

    key_id: str
    customer_id: str | None
    role: Role
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def principal_name(self) -> str:
        return key_principal_name(self.key_id, self.name)

    def active_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class KeyNotFoundError(LookupError):
    pass


def key_principal_name(key_id: str, name: str) -> str:
    """How the audit log and approvals name a key's holder, e.g. `key:3f9a01c2b4d5 (release-bot)`."""
    return f"key:{key_id} ({name})"


async def create_api_key(
    *,
    session: AsyncSession,
    customer_id: str | None,
    role: Role,
    name: str,
    created_by: str,
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """The stored key and its token, which exists only in this return value."""
    material = new_key()
    row = ApiKeyRow(
        key_id=material.key_id,
        customer_id=customer_id,
        role=role.value,
        name=name,
        secret_hash=material.secret_hash,
        created_by=created_by,
        created_at=utc_now(),
        expires_at=expires_at,
        revoked_at=None,
    )
    session.add(row)
    await session.flush()
    return _key_of(row), material.token


async def get_api_key(*, session: AsyncSession, key_id: str) -> ApiKey | None:
    row = await session.get(ApiKeyRow, key_id, populate_existing=True)
    return None if row is None else _key_of(row)


async def page_api_keys(
    *, session: AsyncSession, customer_id: str | None, limit: int, offset: int
) -> tuple[list[ApiKey], int]:
    """Newest first; `customer_id` None lists every key (platform keys included)."""
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.key_id)
    if customer_id is not None:
        query = query.where(ApiKeyRow.customer_id == customer_id)
    rows, total = await page(session, query, limit=limit, offset=offset)
    return [_key_of(row) for row in rows], total


async def revoke_api_key(*, session: AsyncSession, key_id: str, now: datetime | None = None) -> ApiKey:
    """Revoking twice keeps the first revocation time."""
    row = await session.get(ApiKeyRow, key_id, populate_existing=True, with_for_update=True)
    if row is None:
        raise KeyNotFoundError(f"no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = now or utc_now()
        await session.flush()
    return _key_of(row)


async def principal_for_key(
    *, session: AsyncSession, token: str, now: datetime | None = None
) -> Principal | None:
    """The principal of an active key whose secret matches; None for anything else (unknown, revoked,
    expired, wrong secret), so a caller cannot tell which."""
    parts = split_key(token)
    if parts is None:
        return None
    key_id, secret = parts
    row = await session.get(ApiKeyRow, key_id, populate_existing=True)
    if row is None or not secret_matches(secret, row.secret_hash):
        return None
    key = _key_of(row)
    if not key.active_at(now or utc_now()):
        return None
    return Principal(name=key.principal_name, role=key.role, customer_id=key.customer_id)


def _key_of(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        customer_id=row.customer_id,
        role=Role(row.role),
        name=row.name,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
