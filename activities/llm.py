"""Language-model activities: explanations written by the inference layer, with each answer's tokens and
cost recorded under the workflow that asked for it."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.context import current_workflow_id
from agents.reasoning.explanations import ExplainProposal
from agents.reasoning.layering import InferenceLayer
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
        async with self._sessions() as session:
            spent = await repository.spent_this_month(session=session, customer_id=request.customer_id)
        inference = await self._layer.answer(ExplainProposal(request.proposal), spent_this_month_usd=spent)
        async with self._sessions.begin() as session:
            await repository.record_llm_usage(
                session=session,
                workflow_id=workflow_id,
                customer_id=request.customer_id,
                usage=inference.usage,
            )
        return ExplainResult(explanation=inference.answer, usage=inference.usage)
