"""Tier 1, the path every customer is on: request records of numbers, timestamps and short identifiers.

This module reaches the store through `request_log` only, whose columns cannot hold text either; it has no
key and no way to name the tier-2 or tier-3 tables, so nothing obtained through it can contain a prompt."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.privacy.records import QualityComparison, TokenRecord
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store.tables import QualityComparisonRow, RequestLogRow

# Everything a TokenRecord holds, and nothing else: the only columns the tier-1 path ever reads.
TOKEN_RECORD_COLUMNS = (
    RequestLogRow.at,
    RequestLogRow.model,
    RequestLogRow.request_type,
    RequestLogRow.context_tokens,
    RequestLogRow.generated_tokens,
    RequestLogRow.latency_s,
    RequestLogRow.ttft_s,
    RequestLogRow.error,
)
QUALITY_COMPARISON_COLUMNS = (
    QualityComparisonRow.at,
    QualityComparisonRow.request_type,
    QualityComparisonRow.context_tokens,
    QualityComparisonRow.cheap_model,
    QualityComparisonRow.verdict,
)


async def record_token_records(
    *, session: AsyncSession, customer_id: str, workload_id: str, records: Sequence[TokenRecord]
) -> int:
    """Append the records to the workload's request log (allowed in every tier); returns how many.

    Each record is validated again here, so one made without validation (`model_construct`) cannot
    smuggle text into the log: it fails like a bad request body would."""
    if not records:
        return 0
    rows = []
    for record in records:
        checked = TokenRecord.model_validate(record.model_dump())
        values = {column.key: getattr(checked, column.key) for column in TOKEN_RECORD_COLUMNS}
        rows.append({"customer_id": customer_id, "workload_id": workload_id, **values})
    await session.execute(insert(RequestLogRow), rows)
    return len(rows)


async def record_quality_comparisons(
    *, session: AsyncSession, customer_id: str, workload_id: str, comparisons: Sequence[QualityComparison]
) -> int:
    """Append a routing quality sample's comparisons to the workload's (allowed in every tier); returns how
    many. Validated again here, as request records are."""
    rows = []
    for comparison in comparisons:
        checked = QualityComparison.model_validate(comparison.model_dump())
        values = {column.key: getattr(checked, column.key) for column in QUALITY_COMPARISON_COLUMNS}
        rows.append({"customer_id": customer_id, "workload_id": workload_id, **values})
    if rows:
        await session.execute(insert(QualityComparisonRow), rows)
    return len(rows)


class Tier1View:
    """What OptiInfra may read of one customer in tier 1: its request records, nothing else."""

    __slots__ = ("_customer_id", "_sessions")
    tier: ClassVar[PrivacyTier] = PrivacyTier.METRICS_ONLY

    def __init__(self, *, customer_id: str, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._customer_id = customer_id
        self._sessions = sessions

    async def token_records(self, workload_id: str, since: datetime, until: datetime) -> list[TokenRecord]:
        """The workload's requests with `since <= at < until`, oldest first."""
        rows = await self._rows(RequestLogRow, TOKEN_RECORD_COLUMNS, workload_id, since, until)
        return [TokenRecord.model_validate(row) for row in rows]

    async def quality_comparisons(
        self, workload_id: str, since: datetime, until: datetime
    ) -> list[QualityComparison]:
        """The workload's routing quality comparisons with `since <= at < until`, oldest first."""
        rows = await self._rows(QualityComparisonRow, QUALITY_COMPARISON_COLUMNS, workload_id, since, until)
        return [QualityComparison.model_validate(row) for row in rows]

    async def _rows(
        self,
        table: type[RequestLogRow] | type[QualityComparisonRow],
        columns: Sequence[Any],
        workload_id: str,
        since: datetime,
        until: datetime,
    ) -> list[dict[str, Any]]:
        """One tier-1 table's `columns` for the workload's rows with `since <= at < until`, oldest first."""
        check_window(since, until)
        query = (
            select(*columns)
            .where(
                table.customer_id == self._customer_id,
                table.workload_id == workload_id,
                table.at >= since,
                table.at < until,
            )
            .order_by(table.at, table.id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [row._asdict() for row in rows]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(customer_id={self._customer_id!r})"


def check_window(since: datetime, until: datetime) -> None:
    if until < since:
        raise ValueError(f"the window ends ({until.isoformat()}) before it starts ({since.isoformat()})")
