"""The fleet scan's listing: workloads a page at a time in (customer_id, workload_id) order, each with what
makes a change of ours in flight on it (a held workload lock, or a recommendation waiting for a decision,
approved or executing), so that the scan skips it instead of starting a second optimization of it.

Like `repository`, functions take the caller's `AsyncSession` and never commit."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.store.tables import RecommendationRow, WorkloadLockRow, WorkloadRow

IN_FLIGHT_STATUSES = (
    RecommendationStatus.PENDING_APPROVAL,
    RecommendationStatus.APPROVED,
    RecommendationStatus.EXECUTING,
)

Key = tuple[str, str]


@dataclass(frozen=True)
class ScanEntry:
    customer_id: str
    workload_id: str
    in_flight: str | None


async def scan_page(
    *, session: AsyncSession, customer_id: str | None, after: Key | None, limit: int, now: datetime
) -> list[ScanEntry]:
    query = select(WorkloadRow.customer_id, WorkloadRow.workload_id).order_by(
        WorkloadRow.customer_id, WorkloadRow.workload_id
    )
    if customer_id is not None:
        query = query.where(WorkloadRow.customer_id == customer_id)
    if after is not None:
        query = query.where(tuple_(WorkloadRow.customer_id, WorkloadRow.workload_id) > tuple_(*after))
    keys: list[Key] = [(c, w) for c, w in (await session.execute(query.limit(limit))).all()]
    if not keys:
        return []
    reasons = await _in_flight(session, keys, now)
    return [ScanEntry(customer_id=c, workload_id=w, in_flight=reasons.get((c, w))) for c, w in keys]


async def _in_flight(session: AsyncSession, keys: list[Key], now: datetime) -> dict[Key, str]:
    customers = sorted({customer for customer, _ in keys})
    workloads = sorted({workload for _, workload in keys})
    wanted = set(keys)
    reasons: dict[Key, str] = {}
    locks = select(
        WorkloadLockRow.customer_id, WorkloadLockRow.workload_id, WorkloadLockRow.holder_workflow_id
    ).where(
        WorkloadLockRow.customer_id.in_(customers),
        WorkloadLockRow.workload_id.in_(workloads),
        WorkloadLockRow.lease_until > now,
    )
    for customer, workload, holder in (await session.execute(locks)).all():
        if (customer, workload) in wanted:
            reasons[(customer, workload)] = f"{holder} is changing it"
    waiting = (
        select(
            RecommendationRow.customer_id,
            RecommendationRow.workload_id,
            RecommendationRow.recommendation_id,
            RecommendationRow.status,
        )
        .where(
            RecommendationRow.customer_id.in_(customers),
            RecommendationRow.workload_id.in_(workloads),
            RecommendationRow.status.in_([status.value for status in IN_FLIGHT_STATUSES]),
        )
        .order_by(RecommendationRow.created_at)
    )
    for customer, workload, recommendation_id, status in (await session.execute(waiting)).all():
        if (customer, workload) in wanted:
            reasons.setdefault((customer, workload), f"recommendation {recommendation_id} is {status}")
    return reasons
