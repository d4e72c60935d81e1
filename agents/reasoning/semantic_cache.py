"""Semantic answer cache over Qdrant: a question worded differently from one already answered (other
spacing, the same facts in another order) gets that answer instead of a model call.

A hit needs the same customer, task, tier and answer schema, the same figures (every number in the
messages, as a sorted multiset: a question about other numbers is another question, however alike its
wording), an embedding from the same embedder, and cosine similarity of at least the threshold. Only
answers that passed validation are stored, and the caller validates a hit again against its own task
before using it. One collection per vector length, created on first use.

The cache never fails a task: when Qdrant or the embedder cannot be reached, a lookup misses and a store
is skipped, with a warning in the log."""

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from qdrant_client import QdrantClient, models

from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import SemanticCacheConfig
from optiinfra.llm.tiers import InferenceTier
from optiinfra.vectors.qdrant import call_qdrant, ensure_collection

logger = logging.getLogger(__name__)
T = TypeVar("T")

COLLECTION_PREFIX = "llm_answers"
# Every run of digits counts, inside names too: "g5" and "g6" instance types are different facts.
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_POINT_NAMESPACE = uuid.UUID("6f1d2c1e-93a4-4c55-9a51-0e1f6b0c8d17")


@dataclass(frozen=True)
class SemanticKey:
    """What must match exactly for a stored answer to be considered at all."""

    customer_id: str
    task: str
    tier: InferenceTier
    schema: str

    @classmethod
    def of(
        cls, *, customer_id: str, task: str, tier: InferenceTier, schema: dict[str, object]
    ) -> "SemanticKey":
        digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]
        return cls(customer_id=customer_id, task=task, tier=tier, schema=digest)


@dataclass(frozen=True)
class SemanticHit:
    text: str
    model: str
    similarity: float


def question_text(messages: Sequence[ChatMessage]) -> str:
    return "\n".join(message.content for message in messages)


def figures(text: str) -> str:
    """A digest of the numbers in `text`, whatever their order or spelling ("4140" and "4140.0" alike)."""
    values = sorted(float(match.group(0)) for match in _NUMBER.finditer(text))
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


class SemanticCache:
    def __init__(self, config: SemanticCacheConfig, *, collection_prefix: str = COLLECTION_PREFIX) -> None:
        self._config = config
        self._prefix = collection_prefix
        self._client: QdrantClient | None = None
        self._collections: set[str] = set()  # known to exist

    async def lookup(self, key: SemanticKey, messages: Sequence[ChatMessage]) -> SemanticHit | None:
        text = question_text(messages)
        try:
            [vector] = await self._config.embedder.embed([text])
            found = await self._call(lambda client: self._nearest(client, key, text, vector))
        except Exception:
            logger.warning("semantic cache lookup failed; treating it as a miss", exc_info=True)
            return None
        if found is None or found.payload is None:
            return None
        payload = found.payload
        return SemanticHit(text=str(payload["answer"]), model=str(payload["model"]), similarity=found.score)

    async def store(
        self, key: SemanticKey, messages: Sequence[ChatMessage], *, answer: str, model: str
    ) -> None:
        """Keep a validated answer; the same question stored again replaces it."""
        text = question_text(messages)
        try:
            [vector] = await self._config.embedder.embed([text])
            conditions = self._conditions(key, text)
            point_id = uuid.uuid5(_POINT_NAMESPACE, json.dumps([*conditions.values(), text]))
            point = models.PointStruct(
                id=str(point_id), vector=vector, payload={**conditions, "answer": answer, "model": model}
            )
            await self._call(lambda client: self._upsert(client, point, size=len(vector)))
        except Exception:
            logger.warning("semantic cache store failed; the answer is not cached", exc_info=True)

    async def aclose(self) -> None:
        """Closes the embedder; the Qdrant client is the process's and stays open."""
        await self._config.embedder.aclose()

    async def _call(self, call: Callable[[QdrantClient], T]) -> T:
        if self._client is None:
            self._client = await asyncio.to_thread(self._config.open_client)
        return await call_qdrant(self._client, call)

    def _nearest(
        self, client: QdrantClient, key: SemanticKey, text: str, vector: list[float]
    ) -> models.ScoredPoint | None:
        collection = self._collection(client, len(vector))
        response = client.query_points(
            collection,
            query=vector,
            query_filter=models.Filter(
                must=[
                    models.FieldCondition(key=name, match=models.MatchValue(value=value))
                    for name, value in self._conditions(key, text).items()
                ]
            ),
            limit=1,
            score_threshold=self._config.threshold,
            with_payload=True,
        )
        return response.points[0] if response.points else None

    def _upsert(self, client: QdrantClient, point: models.PointStruct, *, size: int) -> None:
        client.upsert(self._collection(client, size), points=[point])

    def _collection(self, client: QdrantClient, size: int) -> str:
        """The collection for vectors of `size`, created on first use."""
        name = f"{self._prefix}_{size}"
        if name not in self._collections:
            ensure_collection(client, name, size=size)
            self._collections.add(name)
        return name

    def _conditions(self, key: SemanticKey, text: str) -> dict[str, str]:
        return {
            "customer_id": key.customer_id,
            "task": key.task,
            "tier": key.tier.value,
            "schema": key.schema,
            "figures": figures(text),
            "embedder": self._config.embedder.name,
        }
