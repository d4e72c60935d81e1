"""The per-workload execution lock on SQLite and PostgreSQL: one holder at a time, even when runs ask at
once; released only by its holder; taken over past the lease its holder stated."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.store.locks import LockHeld, acquire_workload_lock, release_workload_lock

Sessions = async_sessionmaker[AsyncSession]
LEASE = timedelta(hours=12)
T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)


async def _acquire(
    sessions: Sessions, holder: str, now: datetime = T0, workload: str = "chat", lease: timedelta = LEASE
) -> str | None:
    async with sessions.begin() as session:
        held = await acquire_workload_lock(
            session=session, customer_id="acme", workload_id=workload, holder=holder, lease=lease, now=now
        )
    return None if held is None else held.holder


async def _release(sessions: Sessions, holder: str) -> bool:
    async with sessions.begin() as session:
        return await release_workload_lock(
            session=session, customer_id="acme", workload_id="chat", holder=holder
        )


async def test_one_holder_at_a_time_and_only_the_holder_releases(sessions: Sessions) -> None:
    assert await _acquire(sessions, "opt/a") is None
    assert await _acquire(sessions, "opt/a") is None  # taking it again keeps it
    assert await _acquire(sessions, "opt/b") == "opt/a"
    assert await _acquire(sessions, "opt/b", workload="other") is None  # another workload: its own lock
    assert not await _release(sessions, "opt/b")
    assert await _acquire(sessions, "opt/b") == "opt/a"
    assert await _release(sessions, "opt/a")
    assert await _acquire(sessions, "opt/b") is None


async def test_runs_asking_at_once_get_one_holder(sessions: Sessions) -> None:
    holders = [f"opt/{n}" for n in range(6)]
    answers = await asyncio.gather(*(_acquire(sessions, holder) for holder in holders))
    winners = [holder for holder, answer in zip(holders, answers, strict=True) if answer is None]
    assert len(winners) == 1
    assert all(answer in (None, winners[0]) for answer in answers)


async def test_a_lock_past_its_lease_is_taken_over(sessions: Sessions) -> None:
    assert await _acquire(sessions, "opt/terminated") is None
    assert await _acquire(sessions, "opt/b", now=T0 + LEASE - timedelta(minutes=1)) == "opt/terminated"
    assert await _acquire(sessions, "opt/b", now=T0 + LEASE + timedelta(minutes=1)) is None
    assert not await _release(sessions, "opt/terminated")  # it cannot let go of what it lost
    assert await _acquire(sessions, "opt/c", now=T0 + LEASE + timedelta(minutes=2)) == "opt/b"


async def test_the_holders_lease_decides_not_the_askers(sessions: Sessions) -> None:
    """A run holding the lock for a long change is not taken over by one that would itself need it only
    briefly; the asker learns when the holder's lease ends."""
    assert await _acquire(sessions, "opt/long", lease=timedelta(hours=20)) is None
    later = T0 + timedelta(hours=13)
    assert await _acquire(sessions, "opt/short", now=later, lease=timedelta(hours=1)) == "opt/long"
    async with sessions.begin() as session:
        held = await acquire_workload_lock(
            session=session,
            customer_id="acme",
            workload_id="chat",
            holder="opt/short",
            lease=LEASE,
            now=later,
        )
    assert held == LockHeld("opt/long", T0 + timedelta(hours=20))
    assert await _acquire(sessions, "opt/short", now=T0 + timedelta(hours=20, minutes=1)) is None
