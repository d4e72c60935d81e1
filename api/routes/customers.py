from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.deps import (
    Admin,
    Operator,
    SessionsDep,
    Viewer,
    require_customer,
    require_platform_admin,
    scoped_customer,
)
from api.errors import NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER, CustomerBody, Page, PageQuery, WorkloadBody
from optiinfra.domain.fleet import Customer, Workload
from optiinfra.store import repository

router = APIRouter(prefix="/customers", tags=["customers"], route_class=StrictJSONRoute)

CustomerId = Annotated[str, Path(pattern=IDENTIFIER)]
WorkloadId = Annotated[str, Path(pattern=IDENTIFIER)]


@router.get("")
async def list_customers(sessions: SessionsDep, principal: Viewer, paging: PageQuery) -> Page[Customer]:
    """By id; a customer's principal sees its own customer only."""
    async with sessions() as session:
        items, total = await repository.page_customers(
            session=session,
            customer_id=scoped_customer(principal, None),
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page.of(items, total, paging)


@router.get("/{customer_id}", responses=NOT_FOUND)
async def get_customer(customer_id: CustomerId, sessions: SessionsDep, principal: Viewer) -> Customer:
    require_customer(principal, customer_id)
    async with sessions() as session:
        found = await repository.get_customer(session=session, customer_id=customer_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {customer_id}")
    return found


@router.put("/{customer_id}")
async def put_customer(
    customer_id: CustomerId, body: CustomerBody, sessions: SessionsDep, principal: Admin
) -> Customer:
    """Register a customer (platform admins) or change its name, automation policy and GPU budget (its
    admins).
    New customers start in advisory mode. Audited with the policy before and after."""
    require_customer(principal, customer_id)
    customer = Customer(
        customer_id=customer_id, name=body.name, automation=body.automation, budget=body.budget
    )
    async with sessions.begin() as session:
        before = await repository.get_customer(session=session, customer_id=customer_id)
        if before is None:
            require_platform_admin(principal)
        saved = await repository.upsert_customer(session=session, customer=customer)
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action="customer.created" if before is None else "customer.updated",
            subject=customer_id,
            customer_id=customer_id,
            detail={},
            before=before,
            after=saved,
        )
    return saved


@router.put("/{customer_id}/workloads/{workload_id}", responses=NOT_FOUND)
async def put_workload(
    customer_id: CustomerId,
    workload_id: WorkloadId,
    body: WorkloadBody,
    sessions: SessionsDep,
    principal: Operator,
) -> Workload:
    """Register or change a workload: the agents find its instances by the tags optiinfra:customer and
    optiinfra:workload carrying these two ids. Audited with the workload before and after."""
    require_customer(principal, customer_id)
    async with sessions.begin() as session:
        if await repository.get_customer(session=session, customer_id=customer_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {customer_id}")
        before = await repository.get_workload(
            session=session, customer_id=customer_id, workload_id=workload_id
        )
        workload = Workload(customer_id=customer_id, workload_id=workload_id, **body.model_dump())
        saved = await repository.upsert_workload(session=session, workload=workload)
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action="workload.created" if before is None else "workload.updated",
            subject=f"{customer_id}/{workload_id}",
            customer_id=customer_id,
            detail={},
            before=before,
            after=saved,
        )
    return saved
