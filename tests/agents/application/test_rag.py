"""RAG tuning from tier-2 retrieval statistics."""

import math
from datetime import timedelta

import pytest

from agents.application.rag import analyze_rag, relevant_ranks, tune_retrieval
from optiinfra.privacy.aggregates import RagRetrievalStats
from tests.agents.application.records import START, price

GPT = price("gpt", 2.5, 10.0, 128_000)


def _stats(**changes: object) -> RagRetrievalStats:
    base: dict[str, object] = {
        "request_type": "support",
        "period_start": START,
        "period_end": START + timedelta(days=1),
        "requests": 1000,
        "chunk_tokens": 800,
        "mean_chunks_retrieved": 10.0,
        "mean_chunks_used": 2.2,
        "relevance_by_rank": [0.9, 0.8, 0.7, 0.6, 0.45, 0.3, 0.2, 0.2, 0.1, 0.1],
    }
    return RagRetrievalStats.model_validate({**base, **changes})


def test_top_k_stops_where_relevance_drops_and_the_saving_is_priced() -> None:
    tuning = tune_retrieval(_stats(), GPT)
    assert tuning.relevant_ranks == 4
    assert tuning.recommended_top_k == 4  # max(ceil(2.2) = 3 used, 4 relevant ranks)
    assert tuning.tokens_saved_per_request == 6 * 800
    assert tuning.monthly_requests == pytest.approx(30_000)
    assert tuning.monthly_savings_usd == pytest.approx(6 * 800 * 30_000 * 2.5 / 1e6)
    # 22% of retrieved chunks used, 800-token chunks: halve them.
    assert tuning.use_ratio == pytest.approx(0.22) and tuning.suggested_chunk_tokens == 400


def test_used_chunks_set_the_floor_and_small_chunks_stay() -> None:
    tuning = tune_retrieval(_stats(mean_chunks_used=5.5, chunk_tokens=256), GPT)
    assert tuning.recommended_top_k == math.ceil(5.5)
    assert tuning.suggested_chunk_tokens is None
    without_scores = tune_retrieval(_stats(relevance_by_rank=[]))
    assert without_scores.relevant_ranks is None and without_scores.recommended_top_k == 3
    assert without_scores.monthly_savings_usd is None
    assert relevant_ranks([0.9, 0.8]) == 2 and relevant_ranks([0.2]) == 0


def test_without_tier_2_statistics_there_is_nothing_to_tune() -> None:
    assert isinstance(analyze_rag([]), str)
    found = analyze_rag([_stats()], GPT)
    assert not isinstance(found, str) and found[0].changes
    settled = tune_retrieval(_stats(mean_chunks_retrieved=3.0, mean_chunks_used=3.0, chunk_tokens=256))
    assert not settled.changes
