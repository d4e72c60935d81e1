"""Language-model activities: explanations written by the inference layer for a customer (under its
recorded privacy tier and against its daily budget), with each answer's calls, tokens and cost recorded
under the workflow that asked for it."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.context import current_workflow_id
from agents.reasoning.explanations import ExplainProposal
from agents.reasoning.layering import InferenceLayer
from agents.reasoning.tenant import Tenant
from optiinfra.privacy.consent import DEFAULT_TIER, current_tier
from optiinfra.privacy.errors import UnknownCustomerError
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository
from workflows.contracts import ActivityName, ExplainRequest, ExplainResult


class LlmActivities:
    def __init__(self, layer: InferenceLayer, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._layer = layer
        self._sessions = sessions

    @activity.defn(name=ActivityName.EXPLAIN_PROPOSAL)
    async def explain_proposal(self, request: ExplainRequest) -> ExplainResult:
        """Always answers: when no model may or can, the rule tier explains (the usage record says why)."""
        workflow_id = current_workflow_id()
        tenant = await self._tenant(request.customer_id)
        inference = await self._layer.answer(ExplainProposal(request.proposal), tenant=tenant)
        async with self._sessions.begin() as session:
            await repository.record_llm_usage(
                session=session,
                workflow_id=workflow_id,
                customer_id=request.customer_id,
                usage=inference.usage,
            )
        return ExplainResult(explanation=inference.answer, usage=inference.usage)

    async def _tenant(self, customer_id: str) -> Tenant:
        async with self._sessions() as session:
            spent = await repository.spent_today(session=session, customer_id=customer_id)
            try:
                tier: PrivacyTier = await current_tier(session=session, customer_id=customer_id)
            except UnknownCustomerError:
                tier = DEFAULT_TIER  # nothing recorded, so the least that any customer allows
        return Tenant(customer_id=customer_id, privacy_tier=tier, spent_today_usd=spent)
