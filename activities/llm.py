"""Language-model activities: explanations written by the inference layer for a customer (under its
recorded privacy tier and against its daily budget), with each answer's calls, tokens and cost recorded
under the workflow that asked for it."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.own_metrics import WorkerGauges
from activities.tenants import load_tenant, record_usage
from agents.reasoning.explanations import ExplainProposal
from agents.reasoning.layering import InferenceLayer
from workflows.contracts import ActivityName, ExplainRequest, ExplainResult


class LlmActivities:
    def __init__(
        self,
        layer: InferenceLayer,
        sessions: async_sessionmaker[AsyncSession],
        *,
        gauges: WorkerGauges | None = None,
    ) -> None:
        self._layer = layer
        self._sessions = sessions
        self._gauges = gauges or WorkerGauges.none()

    @activity.defn(name=ActivityName.EXPLAIN_PROPOSAL)
    async def explain_proposal(self, request: ExplainRequest) -> ExplainResult:
        """Always answers: when no model may or can, the rule tier explains (the usage record says why)."""
        tenant = await load_tenant(self._sessions, request.customer_id)
        inference = await self._layer.answer(ExplainProposal(request.proposal), tenant=tenant)
        self._gauges.breakers_of(self._layer)
        await record_usage(self._sessions, request.customer_id, inference.usage)
        return ExplainResult(explanation=inference.answer, usage=inference.usage)
