from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.deps import SessionsDep
from api.schemas import IDENTIFIER, CustomerBody, CustomerList, WorkloadBody
from optiinfra.domain.fleet import Customer, Workload
from optiinfra.store import repository

router = APIRouter(prefix="/customers", tags=["customers"])

CustomerId = Annotated[str, Path(pattern=IDENTIFIER)]
WorkloadId = Annotated[str, Path(pattern=IDENTIFIER)]


@router.get("")
async def list_customers(sessions: SessionsDep) -> CustomerList:
    async with sessions() as session:
        return CustomerList(items=await repository.list_customers(session=session))


@router.put("/{customer_id}")
async def put_customer(customer_id: CustomerId, body: CustomerBody, sessions: SessionsDep) -> Customer:
    """Register a customer or change its automation policy. New customers start in advisory mode."""
    customer = Customer(customer_id=customer_id, name=body.name, automation=body.automation)
    async with sessions.begin() as session:
        return await repository.upsert_customer(session=session, customer=customer)


@router.put("/{customer_id}/workloads/{workload_id}")
async def put_workload(
    customer_id: CustomerId, workload_id: WorkloadId, body: WorkloadBody, sessions: SessionsDep
) -> Workload:
    """Register a workload: the agents find its instances by the tags optiinfra:customer and
    optiinfra:workload carrying these two ids."""
    async with sessions.begin() as session:
        if await repository.get_customer(session=session, customer_id=customer_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {customer_id}")
        workload = Workload(customer_id=customer_id, workload_id=workload_id, **body.model_dump())
        return await repository.upsert_workload(session=session, workload=workload)
