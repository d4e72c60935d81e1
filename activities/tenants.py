"""What the language-model activities share: the customer as the inference layer sees it (privacy tier,
what it spent today), and recording an answer's usage under the asking workflow."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.context import current_workflow_id
from activities.own_metrics import record_llm_usage
from agents.reasoning.tenant import Tenant
from optiinfra.llm.usage import LlmUsage
from optiinfra.privacy.consent import DEFAULT_TIER, current_tier
from optiinfra.privacy.errors import UnknownCustomerError
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository


async def load_tenant(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> Tenant:
    async with sessions() as session:
        spent = await repository.spent_today(session=session, customer_id=customer_id)
        try:
            tier: PrivacyTier = await current_tier(session=session, customer_id=customer_id)
        except UnknownCustomerError:
            tier = DEFAULT_TIER  # nothing recorded, so the least that any customer allows
    return Tenant(customer_id=customer_id, privacy_tier=tier, spent_today_usd=spent)


async def record_usage(sessions: async_sessionmaker[AsyncSession], customer_id: str, usage: LlmUsage) -> None:
    """Count the answer's calls, tokens and cost against the customer, under the current activity's
    workflow, and on the worker's metrics endpoint."""
    async with sessions.begin() as session:
        await repository.record_llm_usage(
            session=session, workflow_id=current_workflow_id(), customer_id=customer_id, usage=usage
        )
    record_llm_usage(usage)
