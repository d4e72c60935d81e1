"""The per-workload execution lock: at most one optimization changes a workload at a time.

Taken just before a run's first step and released when it ends (its saga included). Each statement is
atomic on both backends, so two runs taking it at once cannot both get it: the insert lets one row in,
and the conditional update hands the row over only to its holder or past the lease.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.store.repository import dialect_insert
from optiinfra.store.tables import WorkloadLockRow, utc_now


async def acquire_workload_lock(
    *,
    session: AsyncSession,
    customer_id: str,
    workload_id: str,
    holder: str,
    lease: timedelta,
    now: datetime | None = None,
) -> str | None:
    """Takes (or keeps) the workload's lock for workflow `holder`; None when it holds it now, otherwise the
    workflow id of the run that does. A lock held longer than `lease` is taken over."""
    moment = now or utc_now()
    key = (WorkloadLockRow.customer_id == customer_id) & (WorkloadLockRow.workload_id == workload_id)
    await session.execute(
        dialect_insert(session, WorkloadLockRow)
        .values(
            customer_id=customer_id, workload_id=workload_id, holder_workflow_id=holder, acquired_at=moment
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "workload_id"])
    )
    await session.execute(
        update(WorkloadLockRow)
        .where(key)
        .where(
            (WorkloadLockRow.holder_workflow_id == holder) | (WorkloadLockRow.acquired_at < moment - lease)
        )
        .values(holder_workflow_id=holder, acquired_at=moment)
    )
    current = (await session.execute(select(WorkloadLockRow.holder_workflow_id).where(key))).scalar_one()
    return None if current == holder else current


async def release_workload_lock(
    *, session: AsyncSession, customer_id: str, workload_id: str, holder: str
) -> bool:
    """Lets go of the lock if `holder` has it; False when it did not (released already, or taken over)."""
    result = await session.execute(
        delete(WorkloadLockRow).where(
            (WorkloadLockRow.customer_id == customer_id)
            & (WorkloadLockRow.workload_id == workload_id)
            & (WorkloadLockRow.holder_workflow_id == holder)
        )
    )
    return bool(getattr(result, "rowcount", 0))
