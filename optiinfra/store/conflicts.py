"""Storing the conflicts joint optimizations found, with their resolutions, and listing them."""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.coordination import Conflict, Resolution, StoredConflict
from optiinfra.store.repository import page
from optiinfra.store.tables import ConflictRow
from workflows.contracts import ConflictRecord


async def record_conflicts(*, session: AsyncSession, record: ConflictRecord) -> None:
    """Replace what is stored for this joint run: a retried activity writes the same rows again."""
    await session.execute(
        delete(ConflictRow).where(ConflictRow.joint_workflow_id == record.joint_workflow_id)
    )
    resolutions = {r.conflict_id: r for r in record.resolutions}
    for conflict in record.conflicts:
        resolution = resolutions.get(conflict.conflict_id)
        session.add(
            ConflictRow(
                joint_workflow_id=record.joint_workflow_id,
                conflict_id=conflict.conflict_id,
                customer_id=record.customer_id,
                workload_id=record.workload_id,
                kind=conflict.kind.value,
                conflict=conflict.model_dump(mode="json"),
                resolution=resolution.model_dump(mode="json") if resolution else None,
            )
        )
    await session.flush()


async def list_conflicts(
    *,
    session: AsyncSession,
    customer_id: str | None = None,
    workload_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StoredConflict]:
    """Newest first."""
    items, _ = await page_conflicts(
        session=session, customer_id=customer_id, workload_id=workload_id, limit=limit, offset=offset
    )
    return items


async def page_conflicts(
    *, session: AsyncSession, customer_id: str | None, workload_id: str | None, limit: int, offset: int
) -> tuple[list[StoredConflict], int]:
    """Newest first, and how many match."""
    query = select(ConflictRow).order_by(ConflictRow.created_at.desc(), ConflictRow.conflict_id)
    if customer_id is not None:
        query = query.where(ConflictRow.customer_id == customer_id)
    if workload_id is not None:
        query = query.where(ConflictRow.workload_id == workload_id)
    rows, total = await page(session, query, limit=limit, offset=offset)
    return [
        StoredConflict(
            conflict=Conflict.model_validate(row.conflict),
            resolution=Resolution.model_validate(row.resolution) if row.resolution else None,
            joint_workflow_id=row.joint_workflow_id,
            customer_id=row.customer_id,
            workload_id=row.workload_id,
            created_at=row.created_at,
        )
        for row in rows
    ], total
