"""The outcome store on a real local Qdrant (files under tmp_path): outcomes come back whole, most similar
first, only of the asked customer, agent and type and above the similarity floor; recording a
recommendation again replaces it; what was recorded survives reopening the folder."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from optiinfra.domain.enums import AgentKind, RecommendationStatus, RecommendationType
from optiinfra.domain.learning import SimilarOutcome
from optiinfra.learning.features import VECTOR_DIMENSION, learned_vector, proposal_vector
from optiinfra.learning.store import COLLECTION, OutcomeStore, point_id
from optiinfra.settings import Settings
from optiinfra.vectors.qdrant import close_qdrant_clients, open_qdrant
from tests.agents.learning.outcomes import batch_context, other_context, outcome
from tests.agents.reasoning.proposals import spot_proposal

EXECUTED = RecommendationStatus.EXECUTED


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(_env_file=None, state_dir=tmp_path)
    close_qdrant_clients()


@pytest.fixture
def store(settings: Settings) -> OutcomeStore:
    return OutcomeStore.from_settings(settings)


def query_vector(context: dict[str, float] | None = None) -> list[float]:
    return proposal_vector(spot_proposal(), batch_context() if context is None else context)


async def test_an_outcome_comes_back_whole_with_its_similarity(store: OutcomeStore) -> None:
    learned = outcome("rec-1", EXECUTED)
    await store.record(learned)
    [found] = await store.similar(
        customer_id="acme",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        vector=query_vector(),
    )
    assert found.outcome == learned
    assert found.similarity == pytest.approx(1.0)


async def test_recording_a_recommendation_again_replaces_it(store: OutcomeStore, settings: Settings) -> None:
    await store.record(outcome("rec-1", EXECUTED))
    rolled_back = outcome("rec-1", RecommendationStatus.ROLLED_BACK, regressed=True)
    await store.record(rolled_back)
    await store.record(rolled_back)
    assert await store.count() == 1
    [found] = await store.similar(
        customer_id="acme",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        vector=query_vector(),
    )
    assert found.outcome == rolled_back
    [point] = open_qdrant(settings).retrieve(COLLECTION, ids=[point_id("rec-1")], with_payload=True)
    assert point.payload is not None
    assert {k: point.payload[k] for k in ("customer_id", "agent", "type")} == {
        "customer_id": "acme",
        "agent": "cost",
        "type": "spot_migration",
    }
    assert point_id("rec-1") == point_id("rec-1") != point_id("rec-2")


async def test_only_the_customers_outcomes_of_the_same_agent_and_type_are_read(store: OutcomeStore) -> None:
    await store.record(outcome("theirs", EXECUTED, customer_id="globex"))
    resized = outcome("resized", EXECUTED).model_copy(update={"type": RecommendationType.RIGHT_SIZING})
    await store.record(resized)
    by_another_agent = outcome("perf", EXECUTED).model_copy(update={"agent": AgentKind.PERFORMANCE})
    await store.record(by_another_agent)
    assert await store.count() == 3
    # identical vectors but for the one-hots: only the filter keeps them out
    assert learned_vector(outcome("theirs", EXECUTED, customer_id="globex")) == query_vector()
    found = await store.similar(
        customer_id="acme",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        vector=query_vector(),
        min_similarity=-1.0,
    )
    assert found == []
    [theirs] = await store.similar(
        customer_id="globex",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        vector=query_vector(),
    )
    assert theirs.outcome.recommendation_id == "theirs"


async def spot_migrations(
    store: OutcomeStore, vector: list[float], *, min_similarity: float = 0.9, limit: int = 10
) -> list[SimilarOutcome]:
    return await store.similar(
        customer_id="acme",
        agent=AgentKind.COST,
        type=RecommendationType.SPOT_MIGRATION,
        vector=vector,
        min_similarity=min_similarity,
        limit=limit,
    )


async def test_most_similar_first_above_the_floor_and_at_most_the_limit(store: OutcomeStore) -> None:
    await store.record(outcome("same", EXECUTED))
    await store.record(outcome("close", EXECUTED, context=batch_context(gpu=75.0, gpu_memory=80.0)))
    await store.record(outcome("far", EXECUTED, context=other_context()))
    found = await spot_migrations(store, query_vector())
    assert [f.outcome.recommendation_id for f in found] == ["same", "close"]
    assert 1.0 >= found[0].similarity > found[1].similarity >= 0.9
    everything = await spot_migrations(store, query_vector(), min_similarity=-1.0)
    assert [f.outcome.recommendation_id for f in everything] == ["same", "close", "far"]
    assert everything[2].similarity < 0.9
    assert len(await spot_migrations(store, query_vector(), min_similarity=-1.0, limit=2)) == 2
    from_far = await spot_migrations(store, query_vector(other_context()))
    assert [f.outcome.recommendation_id for f in from_far] == ["far"]


async def test_outcomes_survive_reopening(settings: Settings) -> None:
    await OutcomeStore.from_settings(settings).record(outcome("rec-1", EXECUTED))
    close_qdrant_clients()
    reopened = OutcomeStore.from_settings(settings)
    assert await reopened.count(customer_id="acme") == 1
    assert await reopened.count(customer_id="globex") == 0


async def test_a_vector_of_another_length_is_refused(store: OutcomeStore) -> None:
    with pytest.raises(ValueError, match=str(VECTOR_DIMENSION)):
        await store.similar(
            customer_id="acme",
            agent=AgentKind.COST,
            type=RecommendationType.SPOT_MIGRATION,
            vector=[1.0, 0.0],
        )
