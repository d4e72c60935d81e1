"""Learned outcomes in Qdrant: one point per recommendation (recording it again replaces it), under the
structured vector of `features.learned_vector`, with the outcome itself in the payload.

Every search is filtered on the customer, the agent and the recommendation type: one customer's outcomes
never weigh on another's recommendations, and only changes of the same kind are compared."""

import uuid
from typing import Any

from qdrant_client import QdrantClient, models

from optiinfra.domain.enums import AgentKind, RecommendationType
from optiinfra.domain.learning import LearnedOutcome, SimilarOutcome
from optiinfra.learning.features import VECTOR_DIMENSION, VECTOR_LAYOUT_VERSION, learned_vector
from optiinfra.settings import Settings
from optiinfra.vectors.qdrant import call_qdrant, ensure_collection, open_qdrant

COLLECTION = f"learned_outcomes_v{VECTOR_LAYOUT_VERSION}"
DEFAULT_MIN_SIMILARITY = 0.9
"""Cosine similarity of the vectors is the weighted mean of per-feature agreement (see `features`): 0.9
keeps the same workload measured again (0.99 and up) and drops a workload of another size or instance
family (0.7-0.85)."""
DEFAULT_NEIGHBOURS = 10
_POINT_NAMESPACE = uuid.UUID("0b7c5d7e-4f3a-4d1e-9a56-3e2c8f1b6a90")


def point_id(recommendation_id: str) -> str:
    """The point a recommendation's outcome is stored at, the same every time."""
    return str(uuid.uuid5(_POINT_NAMESPACE, recommendation_id))


class OutcomeStore:
    def __init__(self, client: QdrantClient, *, collection: str = COLLECTION) -> None:
        self._client = client
        self._collection = collection
        self._ready = False  # the collection is known to exist

    @classmethod
    def from_settings(cls, settings: Settings) -> "OutcomeStore":
        """On the process's shared Qdrant client (a server when configured, local files otherwise)."""
        return cls(open_qdrant(settings))

    @property
    def collection(self) -> str:
        return self._collection

    async def record(self, outcome: LearnedOutcome) -> None:
        """Keep `outcome`; recording the same recommendation again replaces what was kept."""
        point = models.PointStruct(
            id=point_id(outcome.recommendation_id),
            vector=learned_vector(outcome),
            payload={
                "customer_id": outcome.customer_id,
                "agent": outcome.agent.value,
                "type": outcome.type.value,
                "outcome": outcome.model_dump(mode="json"),
            },
        )
        await call_qdrant(self._client, lambda client: self._upsert(client, point))

    async def similar(
        self,
        *,
        customer_id: str,
        agent: AgentKind,
        type: RecommendationType,
        vector: list[float],
        limit: int = DEFAULT_NEIGHBOURS,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
    ) -> list[SimilarOutcome]:
        """The customer's outcomes of changes of this agent and type whose vectors have at least
        `min_similarity` cosine similarity to `vector`, most similar first, at most `limit`."""
        if len(vector) != VECTOR_DIMENSION:
            raise ValueError(f"a vector of {len(vector)} values; outcomes are {VECTOR_DIMENSION} long")
        conditions = {"customer_id": customer_id, "agent": agent.value, "type": type.value}
        found = await call_qdrant(
            self._client, lambda client: self._query(client, conditions, vector, limit, min_similarity)
        )
        return [
            SimilarOutcome(
                outcome=LearnedOutcome.model_validate(_payload(point)["outcome"]),
                similarity=max(-1.0, min(1.0, point.score)),  # float rounding can pass 1 by a hair
            )
            for point in found
        ]

    async def count(self, *, customer_id: str | None = None) -> int:
        """How many outcomes are kept, of one customer or of all."""
        conditions = {} if customer_id is None else {"customer_id": customer_id}
        return await call_qdrant(self._client, lambda client: self._count(client, conditions))

    def _upsert(self, client: QdrantClient, point: models.PointStruct) -> None:
        self._ensure(client)
        client.upsert(self._collection, points=[point])

    def _query(
        self,
        client: QdrantClient,
        conditions: dict[str, str],
        vector: list[float],
        limit: int,
        min_similarity: float,
    ) -> list[models.ScoredPoint]:
        self._ensure(client)
        response = client.query_points(
            self._collection,
            query=vector,
            query_filter=_filter(conditions),
            limit=limit,
            score_threshold=min_similarity,
            with_payload=True,
        )
        return response.points

    def _count(self, client: QdrantClient, conditions: dict[str, str]) -> int:
        self._ensure(client)
        return client.count(self._collection, count_filter=_filter(conditions), exact=True).count

    def _ensure(self, client: QdrantClient) -> None:
        if not self._ready:
            ensure_collection(client, self._collection, size=VECTOR_DIMENSION)
            self._ready = True


def _filter(conditions: dict[str, str]) -> models.Filter:
    return models.Filter(
        must=[
            models.FieldCondition(key=key, match=models.MatchValue(value=value))
            for key, value in conditions.items()
        ]
    )


def _payload(point: models.ScoredPoint) -> dict[str, Any]:
    if point.payload is None:
        raise ValueError(f"learned outcome point {point.id} has no payload")
    return point.payload
