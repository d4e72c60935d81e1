from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionsDep, Viewer, scoped_customer
from api.errors import StrictJSONRoute
from api.schemas import IDENTIFIER, Page, PageQuery
from optiinfra.domain.coordination import StoredConflict
from optiinfra.store.conflicts import page_conflicts

router = APIRouter(prefix="/conflicts", tags=["conflicts"], route_class=StrictJSONRoute)


@router.get("")
async def get_conflicts(
    sessions: SessionsDep,
    principal: Viewer,
    paging: PageQuery,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    workload_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
) -> Page[StoredConflict]:
    """Conflicts joint optimizations found between the agents' proposals, and how each was resolved,
    newest first; a customer's principal sees its own customer's only."""
    async with sessions() as session:
        items, total = await page_conflicts(
            session=session,
            customer_id=scoped_customer(principal, customer_id),
            workload_id=workload_id,
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page.of(items, total, paging)
