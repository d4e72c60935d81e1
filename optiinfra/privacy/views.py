"""The one way to a customer's view: the view's type follows the tier recorded for the customer, so
what a caller can read is decided by the object it holds (a Tier1View has no method, key or table
reference that could reach text)."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.privacy import consent
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.tier1 import Tier1View
from optiinfra.privacy.tier2 import Tier2View
from optiinfra.privacy.tier3 import Tier3View
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.settings import Settings

PrivacyView = Tier1View | Tier2View | Tier3View


async def open_view(
    *, sessions: async_sessionmaker[AsyncSession], customer_id: str, settings: Settings
) -> PrivacyView:
    """The view of the customer's tier. Raises UnknownCustomerError for an unregistered customer, and
    EncryptionKeyError for a tier-3 customer when OPTIINFRA_PROMPT_ENCRYPTION_KEY is unset or malformed."""
    async with sessions() as session:
        tier = await consent.current_tier(session=session, customer_id=customer_id)
    if tier is PrivacyTier.CONTENT:
        return Tier3View(
            customer_id=customer_id, sessions=sessions, cipher=PromptCipher.from_settings(settings)
        )
    if tier is PrivacyTier.AGGREGATES:
        return Tier2View(customer_id=customer_id, sessions=sessions)
    return Tier1View(customer_id=customer_id, sessions=sessions)
