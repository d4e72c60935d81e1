"""RAG tuning from tier-2 retrieval statistics: how many chunks to retrieve and how large to make them.

Retrieval count: the mean relevance of the k-th retrieved chunk falls with k; past the rank where it drops
below `RELEVANCE_THRESHOLD` the chunks are noise the model reads and pays for. The recommended top-k keeps
every rank above the threshold and at least as many chunks as the answers use:
`max(ceil(mean chunks used), ranks above the threshold)`. Retrieving fewer saves
`(retrieved - top-k) x chunk tokens` of input per request, priced at the model's input price.

Chunk size: when the answers use under `LOW_USE_RATIO` of what is retrieved and the chunks are large (more
than `LARGE_CHUNK_TOKENS`), most of each chunk's tokens are beside the point: smaller chunks let retrieval
hand over the relevant passage alone. That is advice without a dollar figure: what it saves depends on how
the re-chunked index ranks.

Tier 1 carries no retrieval statistics: without them there is nothing to analyze."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optiinfra.application.model_prices import ModelPrice
from optiinfra.domain.application import SECONDS_PER_MONTH
from optiinfra.privacy.aggregates import RagRetrievalStats

RELEVANCE_THRESHOLD = 0.5
LOW_USE_RATIO = 0.5
LARGE_CHUNK_TOKENS = 512
MIN_CHUNK_TOKENS = 128


@dataclass(frozen=True)
class RagTuning:
    request_type: str
    requests: int
    period_s: float
    chunk_tokens: int
    mean_chunks_retrieved: float
    mean_chunks_used: float
    relevant_ranks: int | None
    """Leading ranks whose mean relevance is at least the threshold; None without relevance scores."""
    recommended_top_k: int
    suggested_chunk_tokens: int | None
    """A smaller chunk size when chunks are large and little of them is used."""
    input_usd_per_1m: float | None

    @property
    def use_ratio(self) -> float:
        retrieved = self.mean_chunks_retrieved
        return self.mean_chunks_used / retrieved if retrieved > 0 else 1.0

    @property
    def tokens_saved_per_request(self) -> float:
        return max(0.0, self.mean_chunks_retrieved - self.recommended_top_k) * self.chunk_tokens

    @property
    def monthly_requests(self) -> float:
        return self.requests * SECONDS_PER_MONTH / self.period_s

    @property
    def monthly_tokens_saved(self) -> float:
        return self.tokens_saved_per_request * self.monthly_requests

    @property
    def monthly_savings_usd(self) -> float | None:
        if self.input_usd_per_1m is None:
            return None
        return self.monthly_tokens_saved * self.input_usd_per_1m / 1_000_000

    @property
    def changes(self) -> bool:
        return self.tokens_saved_per_request > 0 or self.suggested_chunk_tokens is not None


def relevant_ranks(relevance_by_rank: Sequence[float], threshold: float = RELEVANCE_THRESHOLD) -> int | None:
    """How many leading ranks have a mean relevance of at least `threshold` (None without scores)."""
    if not relevance_by_rank:
        return None
    return next(
        (rank for rank, score in enumerate(relevance_by_rank) if score < threshold), len(relevance_by_rank)
    )


def tune_retrieval(
    stats: RagRetrievalStats, price: ModelPrice | None = None, threshold: float = RELEVANCE_THRESHOLD
) -> RagTuning:
    ranks = relevant_ranks(stats.relevance_by_rank, threshold)
    used = math.ceil(stats.mean_chunks_used)
    top_k = max(used, ranks) if ranks is not None else max(used, 1)
    top_k = max(1, min(top_k, math.ceil(stats.mean_chunks_retrieved)))
    use_ratio = stats.mean_chunks_used / stats.mean_chunks_retrieved if stats.mean_chunks_retrieved else 1.0
    smaller = None
    if use_ratio < LOW_USE_RATIO and stats.chunk_tokens > LARGE_CHUNK_TOKENS:
        smaller = max(MIN_CHUNK_TOKENS, stats.chunk_tokens // 2)
    return RagTuning(
        request_type=stats.request_type,
        requests=stats.requests,
        period_s=(stats.period_end - stats.period_start).total_seconds(),
        chunk_tokens=stats.chunk_tokens,
        mean_chunks_retrieved=stats.mean_chunks_retrieved,
        mean_chunks_used=stats.mean_chunks_used,
        relevant_ranks=ranks,
        recommended_top_k=top_k,
        suggested_chunk_tokens=smaller,
        input_usd_per_1m=price.input_usd_per_1m if price is not None else None,
    )


def analyze_rag(
    stats: Sequence[RagRetrievalStats],
    price: ModelPrice | None = None,
    threshold: float = RELEVANCE_THRESHOLD,
) -> list[RagTuning] | str:
    """One tuning per request type with statistics, or why there is none."""
    if not stats:
        return "no RAG tuning: no tier-2 retrieval statistics for this workload (tier 2 and above share them)"
    return [tune_retrieval(s, price, threshold) for s in stats]
