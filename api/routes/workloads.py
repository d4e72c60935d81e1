from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionsDep, Viewer, scoped_customer
from api.errors import StrictJSONRoute
from api.schemas import IDENTIFIER, Page, PageQuery
from optiinfra.domain.fleet import Workload
from optiinfra.store import repository

router = APIRouter(prefix="/workloads", tags=["workloads"], route_class=StrictJSONRoute)


@router.get("")
async def list_workloads(
    sessions: SessionsDep,
    principal: Viewer,
    paging: PageQuery,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
) -> Page[Workload]:
    """By customer and id; a customer's principal sees its own customer's only."""
    async with sessions() as session:
        items, total = await repository.page_workloads(
            session=session,
            customer_id=scoped_customer(principal, customer_id),
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page.of(items, total, paging)
