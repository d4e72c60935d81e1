"""Customers' OIDC identity providers in the store."""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.access.oidc import IdentityProvider
from optiinfra.access.principal import Role
from optiinfra.store.repository import upsert_statement
from optiinfra.store.tables import IdentityProviderRow, utc_now


class IssuerTakenError(ValueError):
    """Another customer registered this issuer: its tokens cannot act for two customers."""


async def put_identity_provider(*, session: AsyncSession, provider: IdentityProvider) -> IdentityProvider:
    owner = await session.scalar(
        select(IdentityProviderRow.customer_id).where(IdentityProviderRow.issuer == provider.issuer)
    )
    if owner is not None and owner != provider.customer_id:
        raise IssuerTakenError(f"issuer {provider.issuer} is registered for another customer")
    values = {
        "customer_id": provider.customer_id,
        "issuer": provider.issuer,
        "audience": provider.audience,
        "jwks_url": str(provider.jwks_url),
        "role_claim": provider.role_claim,
        "default_role": None if provider.default_role is None else provider.default_role.value,
        "updated_at": utc_now(),
    }
    await session.execute(upsert_statement(session, IdentityProviderRow, values, key=("customer_id",)))
    return provider


async def get_identity_provider(*, session: AsyncSession, customer_id: str) -> IdentityProvider | None:
    row = await session.get(IdentityProviderRow, customer_id, populate_existing=True)
    return None if row is None else _provider_of(row)


async def provider_for_issuer(*, session: AsyncSession, issuer: str) -> IdentityProvider | None:
    row = await session.scalar(select(IdentityProviderRow).where(IdentityProviderRow.issuer == issuer))
    return None if row is None else _provider_of(row)


async def delete_identity_provider(*, session: AsyncSession, customer_id: str) -> bool:
    result = await session.execute(
        delete(IdentityProviderRow).where(IdentityProviderRow.customer_id == customer_id)
    )
    return bool(getattr(result, "rowcount", 0))


def _provider_of(row: IdentityProviderRow) -> IdentityProvider:
    return IdentityProvider(
        customer_id=row.customer_id,
        issuer=row.issuer,
        audience=row.audience,
        jwks_url=row.jwks_url,
        role_claim=row.role_claim,
        default_role=None if row.default_role is None else Role(row.default_role),
    )
