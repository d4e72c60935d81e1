"""Large workflow payloads kept in the database and passed by id: a workflow's history then holds a
reference of a few dozen bytes instead of, say, a workload snapshot with two weeks of metric series.

Stored as gzip-compressed JSON of a pydantic model. A payload is written once and never changed; rows older
than the retention are deleted as new ones are written (a run that needs one again after that long collects
it again). Like `repository`, functions take the caller's `AsyncSession` and never commit."""

import gzip
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import uuid4

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.store.tables import StoredPayloadRow, utc_now

ModelT = TypeVar("ModelT", bound=BaseModel)

RETENTION = timedelta(days=7)
PRUNE_BATCH = 500
"""At most this many expired rows are deleted per write, so a write never waits on a large clean-up."""


class StoredPayloadMissing(LookupError):
    """No stored payload has this id (never written, or older than the retention)."""


async def save_payload(
    *, session: AsyncSession, kind: str, customer_id: str, payload: BaseModel, now: datetime | None = None
) -> tuple[str, int]:
    """Stores `payload`; returns its new id and its JSON size in bytes (before compression)."""
    now = now or utc_now()
    text = payload.model_dump_json().encode()
    payload_id = uuid4().hex
    session.add(
        StoredPayloadRow(
            payload_id=payload_id,
            kind=kind,
            customer_id=customer_id,
            size_bytes=len(text),
            body=gzip.compress(text, compresslevel=6, mtime=0),
            created_at=now,
        )
    )
    await _prune(session, now - RETENTION)
    return payload_id, len(text)


async def load_payload(*, session: AsyncSession, payload_id: str, model: type[ModelT]) -> ModelT:
    query = select(StoredPayloadRow.body).where(StoredPayloadRow.payload_id == payload_id)
    body = await session.scalar(query)
    if body is None:
        raise StoredPayloadMissing(f"no stored payload {payload_id} (older than {RETENTION.days} days?)")
    return model.model_validate_json(gzip.decompress(body))


async def _prune(session: AsyncSession, before: datetime) -> None:
    expired = (
        select(StoredPayloadRow.payload_id)
        .where(StoredPayloadRow.created_at < before)
        .order_by(StoredPayloadRow.created_at)
        .limit(PRUNE_BATCH)
    )
    ids = list(await session.scalars(expired))
    if ids:
        await session.execute(delete(StoredPayloadRow).where(StoredPayloadRow.payload_id.in_(ids)))
