from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import MetricsDep, SessionsDep, Viewer, scoped_customer
from api.errors import NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER, Page, PageQuery, WorkloadDetail
from optiinfra.domain.fleet import Workload
from optiinfra.reports.days import DayRange
from optiinfra.reports.workload_detail import workload_facts
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


@router.get("/{customer_id}/{workload_id}", responses=NOT_FOUND)
async def get_workload(
    customer_id: Annotated[str, Path(pattern=IDENTIFIER)],
    workload_id: Annotated[str, Path(pattern=IDENTIFIER)],
    sessions: SessionsDep,
    metrics: MetricsDep,
    principal: Viewer,
) -> WorkloadDetail:
    """The workload, its fleet as last measured (each instance's type, GPUs and lifecycle, and the replica
    count, from the last hour with cost records), its measured cost over the last 30 days and monthly,
    and its 10 newest recommendations. What was not measured is null, with a note. Another customer's
    workload is a 404, as if it did not exist."""
    facts = None
    if principal.can_act_on(customer_id):
        facts = await workload_facts(
            sessions,
            metrics,
            DayRange.of(None, None, today=datetime.now(UTC).date()),
            customer_id=customer_id,
            workload_id=workload_id,
        )
    if facts is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no workload {customer_id}/{workload_id}")
    return WorkloadDetail.of(facts)
