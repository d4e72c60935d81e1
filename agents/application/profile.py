"""A workload's request log summarised per request type: what the Application agent's analyzers read.

Token statistics are exact (nearest-rank percentiles over every request); the histograms are on the fixed
grids of `optiinfra.domain.application`, so the profile's size is bounded however long the log is. The
largest `MAX_REQUEST_TYPES - 1` request types are profiled one by one and any others pooled as `other`."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from optiinfra.domain.application import (
    GENERATED_BIN_UPPER,
    MAX_REQUEST_TYPES,
    OTHER_REQUEST_TYPE,
    TOKEN_BIN_UPPER,
    ApplicationProfile,
    QualityTally,
    RequestTypeProfile,
    TokenCell,
    TokenStats,
    TotalBin,
    bin_index,
)
from optiinfra.privacy.aggregates import PromptStructure, RagRetrievalStats
from optiinfra.privacy.records import QualityComparison, QualityVerdict, TokenRecord

Counts = npt.NDArray[np.int64]
PERCENTILES = (50, 90, 95, 99)


@dataclass
class _Requests:
    """One request type's requests, gathered column by column."""

    context: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    errors: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, record: TokenRecord) -> None:
        self.context.append(record.context_tokens)
        self.generated.append(record.generated_tokens)
        self.errors += record.error is not None
        if self.first_at is None or record.at < self.first_at:
            self.first_at = record.at
        if self.last_at is None or record.at > self.last_at:
            self.last_at = record.at

    def merge(self, other: "_Requests") -> None:
        self.context += other.context
        self.generated += other.generated
        self.errors += other.errors
        for at in (other.first_at, other.last_at):
            if at is not None:
                self.first_at = at if self.first_at is None else min(self.first_at, at)
                self.last_at = at if self.last_at is None else max(self.last_at, at)


def token_stats(values: Counts) -> TokenStats:
    """Mean, population std, nearest-rank percentiles, max and sum of a non-empty array of counts."""
    p50, p90, p95, p99 = (int(np.percentile(values, q, method="inverted_cdf")) for q in PERCENTILES)
    return TokenStats(
        mean=float(values.mean()),
        std=float(values.std()),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=int(values.max()),
        sum=int(values.sum()),
    )


def _bins(values: Counts, upper: Sequence[int]) -> Counts:
    edges = np.asarray(upper, dtype=np.int64)
    return np.minimum(np.searchsorted(edges, values, side="left"), len(edges) - 1).astype(np.int64)


def _cells(context: Counts, generated: Counts) -> list[TokenCell]:
    context_bins = _bins(context, TOKEN_BIN_UPPER)
    generated_bins = _bins(generated, GENERATED_BIN_UPPER)
    keys = context_bins * len(GENERATED_BIN_UPPER) + generated_bins
    unique, inverse = np.unique(keys, return_inverse=True)
    requests = np.bincount(inverse)
    context_sums = np.bincount(inverse, weights=context.astype(np.float64))
    generated_sums = np.bincount(inverse, weights=generated.astype(np.float64))
    return [
        TokenCell(
            context_bin=int(key) // len(GENERATED_BIN_UPPER),
            generated_bin=int(key) % len(GENERATED_BIN_UPPER),
            requests=int(requests[i]),
            context_tokens=round(context_sums[i]),
            generated_tokens=round(generated_sums[i]),
        )
        for i, key in enumerate(unique)
    ]


def _total_bins(total: Counts) -> list[TotalBin]:
    bins = _bins(total, TOKEN_BIN_UPPER)
    unique, inverse = np.unique(bins, return_inverse=True)
    requests = np.bincount(inverse)
    sums = np.bincount(inverse, weights=total.astype(np.float64))
    return [
        TotalBin(bin=int(b), requests=int(requests[i]), tokens=round(sums[i])) for i, b in enumerate(unique)
    ]


def _type_profile(name: str, gathered: _Requests) -> RequestTypeProfile:
    assert gathered.first_at is not None and gathered.last_at is not None
    context = np.asarray(gathered.context, dtype=np.int64)
    generated = np.asarray(gathered.generated, dtype=np.int64)
    total = context + generated
    return RequestTypeProfile(
        request_type=name,
        requests=len(context),
        errors=gathered.errors,
        first_at=gathered.first_at,
        last_at=gathered.last_at,
        context=token_stats(context),
        generated=token_stats(generated),
        total=token_stats(total),
        cells=_cells(context, generated),
        total_bins=_total_bins(total),
    )


def profile_requests(
    records: Iterable[TokenRecord],
    *,
    rag: Sequence[RagRetrievalStats] = (),
    prompt_structure: Sequence[PromptStructure] = (),
    quality: Iterable[QualityComparison] = (),
) -> ApplicationProfile:
    """The log's profile, request types largest first. ValueError when the log is empty or spans no time
    (its figures could not be extrapolated to a month)."""
    by_type: dict[str, _Requests] = {}
    models: Counter[str] = Counter()
    for record in records:
        by_type.setdefault(record.request_type, _Requests()).add(record)
        models[record.model] += 1
    if not by_type:
        raise ValueError("the request log holds no request")
    ranked = sorted(by_type.items(), key=lambda item: (-len(item[1].context), item[0]))
    if len(ranked) > MAX_REQUEST_TYPES:
        kept = [(name, found) for name, found in ranked if name != OTHER_REQUEST_TYPE][
            : MAX_REQUEST_TYPES - 1
        ]
        kept_names = {name for name, _ in kept}
        pooled = _Requests()
        for name, found in ranked:
            if name not in kept_names:
                pooled.merge(found)
        ranked = sorted([*kept, (OTHER_REQUEST_TYPE, pooled)], key=lambda item: -len(item[1].context))
    types = [_type_profile(name, found) for name, found in ranked]
    start = min(t.first_at for t in types)
    end = max(t.last_at for t in types)
    if end <= start:
        raise ValueError("the request log spans no time: its figures cannot be extrapolated to a month")
    return ApplicationProfile(
        start=start,
        end=end,
        requests=sum(t.requests for t in types),
        models=dict(models.most_common()),
        types=types,
        rag=list(rag),
        prompt_structure=list(prompt_structure),
        quality=quality_tallies(quality, profiled={t.request_type for t in types}),
    )


def quality_tallies(comparisons: Iterable[QualityComparison], profiled: set[str]) -> list[QualityTally]:
    """A quality sample's comparisons counted per request type, cheaper model and prompt-length bin. A
    request type the profile pooled into `other` is counted there, as its requests are."""
    counts: Counter[tuple[str, str, int]] = Counter()
    worse: Counter[tuple[str, str, int]] = Counter()
    for comparison in comparisons:
        request_type = comparison.request_type
        if request_type not in profiled and OTHER_REQUEST_TYPE in profiled:
            request_type = OTHER_REQUEST_TYPE
        context_bin = bin_index(comparison.context_tokens, TOKEN_BIN_UPPER)
        key = (request_type, comparison.cheap_model, context_bin)
        counts[key] += 1
        worse[key] += comparison.verdict is QualityVerdict.WORSE
    return [
        QualityTally(request_type=name, cheap_model=model, context_bin=bin_, compared=n, worse=worse[key])
        for key, n in sorted(counts.items())
        for name, model, bin_ in (key,)
    ]
