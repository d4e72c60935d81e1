"""Storing measured capacity profiles and reading the ones a workload may use."""

import hashlib
import json

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.capacity_profiles import CapacityProfile
from optiinfra.store.repository import page
from optiinfra.store.tables import CapacityProfileRow


def profile_id_for(profile: CapacityProfile) -> str:
    """The same profile imported twice is one row: its id is a digest of its content."""
    canonical = json.dumps(profile.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def save_capacity_profile(*, session: AsyncSession, profile: CapacityProfile) -> str:
    profile_id = profile_id_for(profile)
    if await session.get(CapacityProfileRow, profile_id) is None:
        session.add(
            CapacityProfileRow(
                profile_id=profile_id,
                customer_id=profile.customer_id,
                workload_id=profile.workload_id,
                gpu=profile.gpu,
                model=profile.model,
                tp=profile.tp,
                tool=profile.tool,
                profile=profile.model_dump(mode="json"),
            )
        )
        await session.flush()
    return profile_id


async def list_capacity_profiles(
    *, session: AsyncSession, customer_id: str, workload_id: str | None = None, limit: int = 200
) -> list[CapacityProfile]:
    """The customer's profiles, newest first; with `workload_id`, that workload's own and the shared ones."""
    items, _ = await page_capacity_profiles(
        session=session, customer_id=customer_id, workload_id=workload_id, limit=limit, offset=0
    )
    return items


async def page_capacity_profiles(
    *, session: AsyncSession, customer_id: str, workload_id: str | None, limit: int, offset: int
) -> tuple[list[CapacityProfile], int]:
    query = (
        select(CapacityProfileRow)
        .where(CapacityProfileRow.customer_id == customer_id)
        .order_by(CapacityProfileRow.created_at.desc(), CapacityProfileRow.profile_id)
    )
    if workload_id is not None:
        query = query.where(
            or_(CapacityProfileRow.workload_id == workload_id, CapacityProfileRow.workload_id.is_(None))
        )
    rows, total = await page(session, query, limit=limit, offset=offset)
    return [CapacityProfile.model_validate(row.profile) for row in rows], total


class StoredCapacityProfiles:
    """The profiles a workload's snapshot carries, read from the store (the snapshot activity's adapter)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def for_workload(self, customer_id: str, workload_id: str) -> list[CapacityProfile]:
        async with self._sessions() as session:
            return await list_capacity_profiles(
                session=session, customer_id=customer_id, workload_id=workload_id
            )
