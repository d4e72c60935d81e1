"""Large workflow payloads by id, on SQLite and PostgreSQL: what is saved loads back equal, compressed in
the row; an unknown id is a StoredPayloadMissing; rows past the retention go as new ones are written."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.store.payloads import RETENTION, StoredPayloadMissing, load_payload, save_payload
from optiinfra.store.tables import StoredPayloadRow

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)


class Series(BaseModel):
    name: str
    values: list[float]


SERIES = Series(name="gpu_utilization", values=[0.25 * (n % 8) for n in range(5000)])


async def _save(sessions: Sessions, now: datetime = T0) -> tuple[str, int]:
    async with sessions.begin() as session:
        return await save_payload(session=session, kind="series", customer_id="acme", payload=SERIES, now=now)


async def test_a_saved_payload_loads_back_equal_and_is_compressed(sessions: Sessions) -> None:
    payload_id, size = await _save(sessions)
    assert size == len(SERIES.model_dump_json().encode())
    async with sessions() as session:
        assert await load_payload(session=session, payload_id=payload_id, model=Series) == SERIES
        stored = await session.scalar(select(func.length(StoredPayloadRow.body)))
    assert stored is not None and stored < size / 10


async def test_an_unknown_id_is_missing(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(StoredPayloadMissing, match="no stored payload nope"):
            await load_payload(session=session, payload_id="nope", model=Series)


async def test_payloads_past_the_retention_go_when_new_ones_are_written(sessions: Sessions) -> None:
    old, _ = await _save(sessions, T0)
    kept, _ = await _save(sessions, T0 + RETENTION - timedelta(minutes=1))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(StoredPayloadRow)) == 2
    await _save(sessions, T0 + RETENTION + timedelta(minutes=1))
    async with sessions() as session:
        ids = set(await session.scalars(select(StoredPayloadRow.payload_id)))
    assert old not in ids and kept in ids and len(ids) == 2
