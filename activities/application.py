"""The Application agent's collection: the workload's request log as a compact profile. It reads through
the narrowest view the analyses need, tier 1 or tier 2; prompt content (tier 3) is never read here, so a
tier-3 customer's text stays in the vault."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from agents.application.profile import profile_requests
from optiinfra.domain.application import ApplicationProfile
from optiinfra.privacy.consent import current_tier
from optiinfra.privacy.tier1 import Tier1View
from optiinfra.privacy.tier2 import Tier2View
from optiinfra.privacy.tiers import PrivacyTier
from workflows.contracts import ActivityName, ApplicationProfileResult, WorkloadContext

REQUEST_LOG_LOOKBACK = timedelta(days=7)
QUALITY_SAMPLE_LOOKBACK = timedelta(days=30)
"""A routing quality sample is taken once, not every day: a month's comparisons still speak for the route."""


class ApplicationActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=ActivityName.COLLECT_APPLICATION_PROFILE)
    async def collect_application_profile(self, context: WorkloadContext) -> ApplicationProfileResult:
        until = datetime.now(UTC)
        return ApplicationProfileResult(
            profile=await self.profile(context.customer.customer_id, context.workload.workload_id, until)
        )

    async def profile(self, customer_id: str, workload_id: str, until: datetime) -> ApplicationProfile | None:
        """The last week's profile, or None when the workload logged no request in it."""
        since = until - REQUEST_LOG_LOOKBACK
        async with self._sessions() as session:
            tier = await current_tier(session=session, customer_id=customer_id)
        if tier.allows(PrivacyTier.AGGREGATES):
            view = Tier2View(customer_id=customer_id, sessions=self._sessions)
            records = await view.token_records(workload_id, since, until)
            rag = await view.rag_stats(workload_id, since, until)
            structure = await view.prompt_structures(workload_id, since, until)
        else:
            records = await Tier1View(customer_id=customer_id, sessions=self._sessions).token_records(
                workload_id, since, until
            )
            rag, structure = [], []
        quality = await Tier1View(customer_id=customer_id, sessions=self._sessions).quality_comparisons(
            workload_id, until - QUALITY_SAMPLE_LOOKBACK, until
        )
        try:
            return profile_requests(records, rag=rag, prompt_structure=structure, quality=quality)
        except ValueError:
            # No request, or all at one instant: nothing that could be extrapolated to a month.
            return None
