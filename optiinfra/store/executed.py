"""Executed recommendations with their outcomes, as the reports read them: in one query, where the
repository's record reader takes one recommendation at a time.

Like `repository`, every function takes the caller's `AsyncSession` and never commits."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.recommendation import Approval, Outcome, Recommendation
from optiinfra.store.repository import RecommendationRecord
from optiinfra.store.tables import RecommendationRow


async def executed_records(*, session: AsyncSession, customer_id: str | None) -> list[RecommendationRecord]:
    """Every executed recommendation of the customer (of every customer with None), oldest first. A
    rolled-back change has left `executed`, so it is not among them."""
    query = (
        select(RecommendationRow)
        .where(RecommendationRow.status == RecommendationStatus.EXECUTED.value)
        .order_by(RecommendationRow.created_at, RecommendationRow.recommendation_id)
        .execution_options(populate_existing=True)
    )
    if customer_id is not None:
        query = query.where(RecommendationRow.customer_id == customer_id)
    return [_record(row) for row in await session.scalars(query)]


def _record(row: RecommendationRow) -> RecommendationRecord:
    return RecommendationRecord(
        recommendation=Recommendation.model_validate(
            {name: getattr(row, name) for name in Recommendation.model_fields}
        ),
        status_reason=row.status_reason,
        approval=None if row.approval is None else Approval.model_validate(row.approval),
        outcome=None if row.outcome is None else Outcome.model_validate(row.outcome),
        updated_at=row.updated_at,
    )
