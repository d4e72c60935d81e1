"""Tier 2: tier 1 plus statistics aggregated over many requests (RAG retrieval, prompt structure).
Aggregates are numbers only; no single request and no text can be recovered from them."""

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.privacy import consent
from optiinfra.privacy._upsert import upsert
from optiinfra.privacy.aggregates import PromptStructure, RagRetrievalStats
from optiinfra.privacy.tier1 import Tier1View, check_window
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store.tables import RequestAggregateRow

AggregateT = TypeVar("AggregateT", RagRetrievalStats, PromptStructure)
Aggregate = RagRetrievalStats | PromptStructure
AGGREGATE_KEY = ("customer_id", "workload_id", "kind", "request_type", "period_start", "period_end")


class AggregateKind(StrEnum):
    RAG_RETRIEVAL = "rag_retrieval"
    PROMPT_STRUCTURE = "prompt_structure"


def kind_of(aggregate: Aggregate) -> AggregateKind:
    if isinstance(aggregate, RagRetrievalStats):
        return AggregateKind.RAG_RETRIEVAL
    return AggregateKind.PROMPT_STRUCTURE


async def record_aggregates(
    *, session: AsyncSession, customer_id: str, workload_id: str, aggregates: Sequence[Aggregate]
) -> int:
    """Store the aggregates (tier 2 or 3 only, else TierNotAllowedError). An aggregate of a kind, request
    type and period already stored replaces it. Returns how many were given."""
    await consent.require_tier(
        session=session,
        customer_id=customer_id,
        needed=PrivacyTier.AGGREGATES,
        what="storing aggregated statistics",
        lock=True,
    )
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for aggregate in aggregates:
        row = {
            "customer_id": customer_id,
            "workload_id": workload_id,
            "kind": kind_of(aggregate).value,
            "request_type": aggregate.request_type,
            "period_start": aggregate.period_start,
            "period_end": aggregate.period_end,
            "stats": aggregate.model_dump(mode="json"),
        }
        rows[tuple(row[name] for name in AGGREGATE_KEY)] = row  # one row per key: the last one given
    if rows:
        statement = upsert(session, RequestAggregateRow, key=AGGREGATE_KEY, update=("stats",))
        await session.execute(statement, list(rows.values()))
    return len(aggregates)


class Tier2View(Tier1View):
    """Tier 1's records plus the customer's aggregated statistics."""

    __slots__ = ()
    tier: ClassVar[PrivacyTier] = PrivacyTier.AGGREGATES

    async def rag_stats(self, workload_id: str, since: datetime, until: datetime) -> list[RagRetrievalStats]:
        """Retrieval statistics of the periods overlapping [since, until), oldest first."""
        return await self._aggregates(
            RagRetrievalStats, AggregateKind.RAG_RETRIEVAL, workload_id, since, until
        )

    async def prompt_structures(
        self, workload_id: str, since: datetime, until: datetime
    ) -> list[PromptStructure]:
        """Prompt-structure shares of the periods overlapping [since, until), oldest first."""
        return await self._aggregates(
            PromptStructure, AggregateKind.PROMPT_STRUCTURE, workload_id, since, until
        )

    async def _aggregates(
        self,
        model: type[AggregateT],
        kind: AggregateKind,
        workload_id: str,
        since: datetime,
        until: datetime,
    ) -> list[AggregateT]:
        check_window(since, until)
        query = (
            select(RequestAggregateRow.stats)
            .where(
                RequestAggregateRow.customer_id == self._customer_id,
                RequestAggregateRow.workload_id == workload_id,
                RequestAggregateRow.kind == kind.value,
                RequestAggregateRow.period_start < until,
                RequestAggregateRow.period_end > since,
            )
            .order_by(RequestAggregateRow.period_start, RequestAggregateRow.request_type)
        )
        async with self._sessions() as session:
            # The view may outlive a tier change: the customer's tier now decides, not the one at opening.
            await consent.require_tier(
                session=session,
                customer_id=self._customer_id,
                needed=PrivacyTier.AGGREGATES,
                what="reading aggregated statistics",
            )
            stats = (await session.scalars(query)).all()
        return [model.model_validate(item) for item in stats]
