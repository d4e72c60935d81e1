"""The per-workload execution lock: at most one optimization changes a workload at a time.

Taken just before a run's first step and released when it ends (its saga included). The holder states
its lease, the longest it can need the lock (its steps, their compensations, the verification and the
watch); a lock past its holder's lease is taken over (its holder was terminated without releasing it), so a
waiter can wait exactly that long. Each statement is atomic on both backends, so two runs taking it at once
cannot both get it: the insert lets one row in, and the conditional update hands the row over only to its
holder or past the lease.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.store.repository import dialect_insert
from optiinfra.store.tables import WorkloadLockRow, utc_now


@dataclass(frozen=True)
class LockHeld:
    """Another run holds the lock: its workflow id and the end of its lease."""

    holder: str
    lease_until: datetime


async def acquire_workload_lock(
    *,
    session: AsyncSession,
    customer_id: str,
    workload_id: str,
    holder: str,
    lease: timedelta,
    now: datetime | None = None,
) -> "LockHeld | None":
    """Takes (or keeps) the workload's lock for workflow `holder` for `lease` from now; None when it holds
    it now, otherwise who does and until when. A lock past its holder's lease is taken over."""
    moment = now or utc_now()
    until = moment + lease
    key = (WorkloadLockRow.customer_id == customer_id) & (WorkloadLockRow.workload_id == workload_id)
    await session.execute(
        dialect_insert(session, WorkloadLockRow)
        .values(
            customer_id=customer_id,
            workload_id=workload_id,
            holder_workflow_id=holder,
            acquired_at=moment,
            lease_until=until,
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "workload_id"])
    )
    await session.execute(
        update(WorkloadLockRow)
        .where(key)
        .where((WorkloadLockRow.holder_workflow_id == holder) | (WorkloadLockRow.lease_until < moment))
        .values(holder_workflow_id=holder, acquired_at=moment, lease_until=until)
    )
    row = (
        await session.execute(
            select(WorkloadLockRow.holder_workflow_id, WorkloadLockRow.lease_until).where(key)
        )
    ).one()
    return None if row.holder_workflow_id == holder else LockHeld(row.holder_workflow_id, row.lease_until)


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
