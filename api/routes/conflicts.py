from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import SessionsDep
from api.schemas import IDENTIFIER
from optiinfra.domain.coordination import StoredConflict
from optiinfra.store.conflicts import list_conflicts

router = APIRouter(prefix="/conflicts", tags=["conflicts"])


class ConflictList(BaseModel):
    items: list[StoredConflict]


@router.get("")
async def get_conflicts(
    sessions: SessionsDep,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    workload_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ConflictList:
    """Conflicts joint optimizations found between the agents' proposals, and how each was resolved,
    newest first."""
    async with sessions() as session:
        items = await list_conflicts(
            session=session, customer_id=customer_id, workload_id=workload_id, limit=limit
        )
    return ConflictList(items=items)
