"""Each customer's privacy tier: reading it, requiring it, and changing it (who, when, why; audited).

Absent a recorded choice a customer is in tier 1. Tier checks that guard a write lock the customer's row
(shared), and a tier change locks it exclusively, so no write can slip in under a tier that was just
lowered: lowering a customer out of tier 3 deletes its stored prompt content in the same transaction."""

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.privacy.errors import TierNotAllowedError, UnknownCustomerError
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository
from optiinfra.store.tables import CustomerPrivacyRow, CustomerRow, PromptVaultRow, utc_now

DEFAULT_TIER = PrivacyTier.METRICS_ONLY
TIER_CHANGED = "privacy_tier.changed"
CONTENT_DELETED = "prompt_content.deleted"


class PrivacySetting(BaseModel):
    """A customer's tier; `changed_by` and `changed_at` are None while it is the default."""

    customer_id: str
    tier: PrivacyTier
    changed_by: str | None = None
    changed_at: datetime | None = None
    reason: str = ""


async def get_privacy_setting(*, session: AsyncSession, customer_id: str) -> PrivacySetting:
    """Raises UnknownCustomerError for a customer that is not registered."""
    query = (
        select(CustomerRow.customer_id, CustomerPrivacyRow)
        .outerjoin(CustomerPrivacyRow, CustomerPrivacyRow.customer_id == CustomerRow.customer_id)
        .where(CustomerRow.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )
    found = (await session.execute(query)).first()
    if found is None:
        raise UnknownCustomerError(customer_id)
    row: CustomerPrivacyRow | None = found[1]
    if row is None:
        return PrivacySetting(customer_id=customer_id, tier=DEFAULT_TIER)
    return PrivacySetting(
        customer_id=customer_id,
        tier=PrivacyTier(row.tier),
        changed_by=row.changed_by,
        changed_at=row.changed_at,
        reason=row.reason,
    )


async def current_tier(*, session: AsyncSession, customer_id: str, lock: bool = False) -> PrivacyTier:
    """The customer's tier. With `lock`, the customer's row stays share-locked until the transaction ends,
    so the tier cannot change under a write that depends on it (PostgreSQL; SQLite serialises writers)."""
    query = (
        select(CustomerRow.customer_id, CustomerPrivacyRow.tier)
        .outerjoin(CustomerPrivacyRow, CustomerPrivacyRow.customer_id == CustomerRow.customer_id)
        .where(CustomerRow.customer_id == customer_id)
    )
    if lock:
        query = query.with_for_update(read=True, of=CustomerRow)
    found = (await session.execute(query)).first()
    if found is None:
        raise UnknownCustomerError(customer_id)
    return DEFAULT_TIER if found.tier is None else PrivacyTier(found.tier)


async def require_tier(
    *, session: AsyncSession, customer_id: str, needed: PrivacyTier, what: str, lock: bool = False
) -> PrivacyTier:
    """The customer's tier, or TierNotAllowedError naming `what` was refused if it is below `needed`."""
    tier = await current_tier(session=session, customer_id=customer_id, lock=lock)
    if not tier.allows(needed):
        raise TierNotAllowedError(customer_id, tier, needed, what)
    return tier


async def set_privacy_tier(
    *, session: AsyncSession, customer_id: str, tier: PrivacyTier, changed_by: str, reason: str = ""
) -> PrivacySetting:
    """Record the customer's tier with who changed it and when, and audit the change. Leaving tier 3
    deletes every stored prompt of the customer (withdrawn consent keeps no content), also audited."""
    tier = PrivacyTier(tier)
    if not changed_by.strip():
        raise ValueError("changed_by must name who changed the privacy tier")
    locked = select(CustomerRow.customer_id).where(CustomerRow.customer_id == customer_id).with_for_update()
    if (await session.execute(locked)).first() is None:
        raise UnknownCustomerError(customer_id)

    row = await session.get(CustomerPrivacyRow, customer_id, populate_existing=True)
    previous = DEFAULT_TIER if row is None else PrivacyTier(row.tier)
    changed_at = utc_now()
    if row is None:
        row = CustomerPrivacyRow(customer_id=customer_id)
        session.add(row)
    row.tier, row.changed_by, row.changed_at, row.reason = int(tier), changed_by, changed_at, reason
    await session.flush()
    await repository.append_audit(
        session=session,
        actor=changed_by,
        action=TIER_CHANGED,
        subject=customer_id,
        customer_id=customer_id,
        detail={"from": previous.value, "to": tier.value, "reason": reason},
    )
    if not tier.allows(PrivacyTier.CONTENT):
        await _delete_prompt_content(session, customer_id, previous=previous, tier=tier, actor=changed_by)
    return PrivacySetting(
        customer_id=customer_id, tier=tier, changed_by=changed_by, changed_at=changed_at, reason=reason
    )


async def _delete_prompt_content(
    session: AsyncSession, customer_id: str, *, previous: PrivacyTier, tier: PrivacyTier, actor: str
) -> None:
    result = await session.execute(
        delete(PromptVaultRow)
        .where(PromptVaultRow.customer_id == customer_id)
        .execution_options(synchronize_session=False)
    )
    deleted = result.rowcount  # type: ignore[attr-defined]
    if deleted or previous is PrivacyTier.CONTENT:
        await repository.append_audit(
            session=session,
            actor=actor,
            action=CONTENT_DELETED,
            subject=customer_id,
            customer_id=customer_id,
            detail={
                "prompts": deleted,
                "reason": f"privacy tier lowered from {previous.value} to {tier.value}",
            },
        )
