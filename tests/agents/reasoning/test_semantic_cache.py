"""The semantic cache on a real local Qdrant (files under tmp_path) with the live stub: the same question
worded differently is answered from the cache, revalidated; a different question, other figures, another
customer, an answer that fails this task's checks, or content the customer's tier keeps from models all
miss. The cache survives a restart and never fails a task when Qdrant is unavailable."""

import json
import logging
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel
from qdrant_client import QdrantClient

from agents.reasoning.semantic_cache import COLLECTION_PREFIX, SemanticCache, figures
from agents.reasoning.tasks import ReasoningTask, TaskKind
from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import SemanticCacheConfig
from optiinfra.llm.tiers import InferenceTier
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.vectors.embedder import Embedder
from optiinfra.vectors.hashing import DEFAULT_DIMENSIONS, HashingEmbedder
from optiinfra.vectors.openai_embeddings import OpenAIEmbedder
from optiinfra.vectors.qdrant import QdrantLocation, close_qdrant_clients, open_qdrant_at
from tests.agents.reasoning.layers import LayerFactory, tenant
from tests.support.openai_stub import EMBEDDING_DIMENSIONS, OpenAIStub, answer, malformed

SYSTEM = (
    "You summarize a GPU inference workload for the engineer who runs it. Use only the facts given. "
    'Reply with one JSON object: {"summary": "<one sentence>"}'
)
FACTS = (
    "Workload chat-8b: 4 replicas on g5.xlarge, GPU utilization 63%, p95 TTFT 0.42 s, cost $4140 per month."
)
# The same facts: other spacing, line breaks and order.
PARAPHRASE = (
    "Workload   chat-8b:\n  cost $4140 per month,  GPU utilization 63%,\n"
    "4 replicas on g5.xlarge, p95 TTFT 0.42 s."
)
# The same figures about something else entirely.
UNRELATED = "Invoice 8 for 4 chairs and 63 pencils from aisle 5, item 95: tax rate 0.42, total $4140."
# The same wording with one figure changed.
OTHER_FIGURES = FACTS.replace("63%", "71%")
SUMMARY = json.dumps({"summary": "chat-8b runs 4 replicas at 63% GPU utilization for $4140 a month."})
SIMILARITY = re.compile(r"semantic cache hit \(similarity (0\.9[7-9]\d|1\.000)\)")


class Summary(BaseModel):
    summary: str


class SummarizeWorkload(ReasoningTask[Summary]):
    name: ClassVar[str] = "summarize_workload"
    kind: ClassVar[TaskKind] = TaskKind.CLASSIFICATION  # the small tier, to keep the fixture's one model
    answer_model = Summary

    def __init__(self, facts: str = FACTS, *, forbidden_word: str | None = None) -> None:
        self.facts = facts
        self.forbidden_word = forbidden_word

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=self.facts)]

    def rule_answer(self) -> Summary:
        return Summary(summary="rules")

    def rejection(self, answer: Summary) -> str | None:
        """A check that depends on more than the messages, as a task's may."""
        if self.forbidden_word and self.forbidden_word in answer.summary:
            return f"mentions {self.forbidden_word}"
        return None


class SummarizePrompts(SummarizeWorkload):
    name: ClassVar[str] = "summarize_prompts"
    content_tier: ClassVar[PrivacyTier] = PrivacyTier.CONTENT


SMALL_ONLY = {InferenceTier.SMALL: "small-model"}
CacheFactory = Callable[..., SemanticCache]


@pytest.fixture
def qdrant_location(tmp_path: Path) -> Iterator[QdrantLocation]:
    yield QdrantLocation(path=tmp_path / "qdrant")
    close_qdrant_clients()


@pytest.fixture
def make_cache(qdrant_location: QdrantLocation) -> CacheFactory:
    def make(embedder: Embedder | None = None, *, threshold: float = 0.97) -> SemanticCache:
        config = SemanticCacheConfig(
            open_client=partial(open_qdrant_at, qdrant_location),
            embedder=embedder or HashingEmbedder(),
            threshold=threshold,
        )
        return SemanticCache(config)

    return make


def stored_points(location: QdrantLocation, dimensions: int = DEFAULT_DIMENSIONS) -> int:
    client = open_qdrant_at(location)
    collection = f"{COLLECTION_PREFIX}_{dimensions}"
    if not client.collection_exists(collection):
        return 0
    return client.count(collection).count


async def test_a_reworded_question_is_answered_from_the_semantic_cache(
    openai_stub: OpenAIStub, make_layer: LayerFactory, make_cache: CacheFactory
) -> None:
    layer = make_layer(SMALL_ONLY, semantic_cache=make_cache())
    openai_stub.script(answer(SUMMARY))
    first = await layer.answer(SummarizeWorkload(), tenant=tenant())
    reworded = await layer.answer(SummarizeWorkload(PARAPHRASE), tenant=tenant())

    assert len(openai_stub.requests) == 1
    assert not first.usage.cached
    assert reworded.answer == first.answer
    assert reworded.usage.cached
    assert SIMILARITY.fullmatch(reworded.usage.reason), reworded.usage.reason
    assert (reworded.usage.tier, reworded.usage.model) == (InferenceTier.SMALL, "small-model")
    assert (reworded.usage.cost_usd, reworded.usage.calls) == (0.0, 0)


@pytest.mark.parametrize(
    ("facts", "customer_id"),
    [
        pytest.param(UNRELATED, "acme", id="same-figures-other-words"),
        pytest.param(OTHER_FIGURES, "acme", id="same-words-other-figures"),
        pytest.param(PARAPHRASE, "globex", id="another-customer"),
    ],
)
async def test_another_question_misses(
    openai_stub: OpenAIStub, make_layer: LayerFactory, make_cache: CacheFactory, facts: str, customer_id: str
) -> None:
    layer = make_layer(SMALL_ONLY, semantic_cache=make_cache())
    openai_stub.script(answer(SUMMARY))
    await layer.answer(SummarizeWorkload(), tenant=tenant())
    other = await layer.answer(SummarizeWorkload(facts), tenant=tenant(customer_id=customer_id))

    assert len(openai_stub.requests) == 2
    assert not other.usage.cached


def test_figures_ignore_order_and_spelling_but_not_values() -> None:
    assert figures("4 replicas at 63%, $4140") == figures("$4140.0 and 63 % on 4.0 replicas")
    assert figures(FACTS) == figures(PARAPHRASE) == figures(UNRELATED)
    assert figures(FACTS) != figures(OTHER_FIGURES)


async def test_a_hit_that_fails_this_tasks_checks_is_not_used(
    openai_stub: OpenAIStub, make_layer: LayerFactory, make_cache: CacheFactory
) -> None:
    layer = make_layer(SMALL_ONLY, semantic_cache=make_cache())
    without_name = json.dumps({"summary": "Four replicas at 63% GPU utilization."})
    openai_stub.script(answer(SUMMARY), answer(without_name))
    await layer.answer(SummarizeWorkload(), tenant=tenant())
    stricter = await layer.answer(SummarizeWorkload(PARAPHRASE, forbidden_word="chat-8b"), tenant=tenant())

    assert len(openai_stub.requests) == 2
    assert not stricter.usage.cached
    assert stricter.answer.summary == "Four replicas at 63% GPU utilization."


async def test_only_validated_answers_are_stored(
    openai_stub: OpenAIStub,
    make_layer: LayerFactory,
    make_cache: CacheFactory,
    qdrant_location: QdrantLocation,
) -> None:
    layer = make_layer(SMALL_ONLY, threshold=10, semantic_cache=make_cache())
    openai_stub.script(malformed(), malformed(), malformed(), answer(SUMMARY))
    failed = await layer.answer(SummarizeWorkload(), tenant=tenant())
    assert failed.usage.fell_back_to_rules
    assert stored_points(qdrant_location) == 0

    retried = await layer.answer(SummarizeWorkload(PARAPHRASE), tenant=tenant())
    assert not retried.usage.cached
    assert len(openai_stub.requests) == 4
    assert stored_points(qdrant_location) == 1


async def test_content_the_customers_tier_keeps_from_models_is_not_cached_either(
    openai_stub: OpenAIStub,
    make_layer: LayerFactory,
    make_cache: CacheFactory,
    qdrant_location: QdrantLocation,
) -> None:
    layer = make_layer(SMALL_ONLY, semantic_cache=make_cache())
    openai_stub.script(answer(SUMMARY))
    refused = await layer.answer(SummarizePrompts(), tenant=tenant(privacy=PrivacyTier.AGGREGATES))
    assert refused.usage.reason.startswith("not sent to a model")
    assert openai_stub.requests == []
    assert stored_points(qdrant_location) == 0

    allowed = await layer.answer(SummarizePrompts(), tenant=tenant(privacy=PrivacyTier.CONTENT))
    assert not allowed.usage.fell_back_to_rules
    assert stored_points(qdrant_location) == 1
    # A tenant whose tier now forbids it gets nothing out of the cache either.
    again = await layer.answer(SummarizePrompts(PARAPHRASE), tenant=tenant(privacy=PrivacyTier.METRICS_ONLY))
    assert not again.usage.cached
    assert again.answer == Summary(summary="rules")
    assert len(openai_stub.requests) == 1


async def test_the_cache_outlives_the_process_that_filled_it(
    openai_stub: OpenAIStub, make_layer: LayerFactory, make_cache: CacheFactory
) -> None:
    openai_stub.script(answer(SUMMARY))
    await make_layer(SMALL_ONLY, semantic_cache=make_cache()).answer(SummarizeWorkload(), tenant=tenant())
    close_qdrant_clients()  # as at shutdown: the folder's lock is released and reopened from disk

    restarted = make_layer(SMALL_ONLY, semantic_cache=make_cache())
    hit = await restarted.answer(SummarizeWorkload(PARAPHRASE), tenant=tenant())
    assert hit.usage.cached
    assert len(openai_stub.requests) == 1


async def test_an_unavailable_qdrant_only_costs_a_miss(
    openai_stub: OpenAIStub, make_layer: LayerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> QdrantClient:
        raise RuntimeError("Storage folder is already accessed by another instance of Qdrant client")

    cache = SemanticCache(SemanticCacheConfig(open_client=unavailable, embedder=HashingEmbedder()))
    layer = make_layer(SMALL_ONLY, semantic_cache=cache)
    openai_stub.script(answer(SUMMARY))
    with caplog.at_level(logging.WARNING, logger="agents.reasoning.semantic_cache"):
        first = await layer.answer(SummarizeWorkload(), tenant=tenant())
        second = await layer.answer(SummarizeWorkload(PARAPHRASE), tenant=tenant())

    assert not first.usage.fell_back_to_rules
    assert not second.usage.cached
    assert len(openai_stub.requests) == 2
    assert "semantic cache lookup failed" in caplog.text
    assert "semantic cache store failed" in caplog.text


async def test_embeddings_from_an_openai_compatible_endpoint(
    openai_stub: OpenAIStub,
    make_layer: LayerFactory,
    make_cache: CacheFactory,
    qdrant_location: QdrantLocation,
) -> None:
    """A fresh layer (empty exact cache) asking the same question hits the vectors the endpoint gave."""
    embedder = OpenAIEmbedder(
        base_url=openai_stub.base_url, model="embed-model", api_key=None, timeout_seconds=10.0
    )
    openai_stub.script(answer(SUMMARY))
    await make_layer(SMALL_ONLY, semantic_cache=make_cache(embedder)).answer(
        SummarizeWorkload(), tenant=tenant()
    )
    other_worker = make_layer(
        SMALL_ONLY,
        semantic_cache=make_cache(
            OpenAIEmbedder(
                base_url=openai_stub.base_url, model="embed-model", api_key=None, timeout_seconds=10.0
            )
        ),
    )
    hit = await other_worker.answer(SummarizeWorkload(), tenant=tenant())

    assert hit.usage.cached
    assert hit.usage.reason == "semantic cache hit (similarity 1.000)"
    assert len(openai_stub.requests) == 1
    # A lookup and a store by the first layer, a lookup by the second.
    assert [request["model"] for request in openai_stub.embedding_requests] == ["embed-model"] * 3
    assert stored_points(qdrant_location, EMBEDDING_DIMENSIONS) == 1
    assert stored_points(qdrant_location, DEFAULT_DIMENSIONS) == 0
