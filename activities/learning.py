"""Learning activities: weigh new proposals by the customer's similar past outcomes, and keep each finished
recommendation's outcome for later ones. The weighing is `agents.learning.confidence`; the vectors and
their Qdrant collection are `optiinfra.learning`."""

from temporalio import activity

from agents.learning.confidence import ConfidenceParams, adjust_confidence
from optiinfra.domain.learning import ConfidenceAdjustment
from optiinfra.domain.recommendation import Proposal
from optiinfra.learning.features import proposal_vector
from optiinfra.learning.store import DEFAULT_MIN_SIMILARITY, DEFAULT_NEIGHBOURS, OutcomeStore
from optiinfra.settings import Settings
from workflows.contracts import ActivityName, ConfidenceQuery, ConfidenceResult, LearnedOutcomeRecord


class LearningActivities:
    def __init__(
        self,
        store: OutcomeStore,
        *,
        params: ConfidenceParams | None = None,
        neighbours: int = DEFAULT_NEIGHBOURS,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
    ) -> None:
        self._store = store
        self._params = params or ConfidenceParams()
        self._neighbours = neighbours
        self._min_similarity = min_similarity

    @classmethod
    def from_settings(cls, settings: Settings) -> "LearningActivities":
        return cls(
            OutcomeStore.from_settings(settings),
            params=ConfidenceParams(max_shift=settings.learning_max_confidence_shift),
            neighbours=settings.learning_neighbours,
            min_similarity=settings.learning_min_similarity,
        )

    @activity.defn(name=ActivityName.ADJUST_CONFIDENCE)
    async def adjust_confidence(self, query: ConfidenceQuery) -> ConfidenceResult:
        """Each proposal, in order, with its confidence moved by the customer's similar past outcomes of
        the same agent and type, and those outcomes cited in its reasoning."""
        proposals: list[Proposal] = []
        adjustments: list[ConfidenceAdjustment] = []
        for proposal in query.proposals:
            similar = await self._store.similar(
                customer_id=query.customer_id,
                agent=proposal.agent,
                type=proposal.type,
                vector=proposal_vector(proposal, query.context),
                limit=self._neighbours,
                min_similarity=self._min_similarity,
            )
            adjusted, adjustment = adjust_confidence(proposal, similar, self._params)
            proposals.append(adjusted)
            adjustments.append(adjustment)
        return ConfidenceResult(proposals=proposals, adjustments=adjustments)

    @activity.defn(name=ActivityName.RECORD_LEARNED_OUTCOME)
    async def record_learned_outcome(self, record: LearnedOutcomeRecord) -> None:
        """Keep the outcome (again: the same recommendation's point is replaced, so retries are safe)."""
        await self._store.record(record.outcome)
