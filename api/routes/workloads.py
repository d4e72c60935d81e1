from fastapi import APIRouter

from api.deps import SessionsDep
from api.schemas import WorkloadList
from optiinfra.store import repository

router = APIRouter(prefix="/workloads", tags=["workloads"])


@router.get("")
async def list_workloads(sessions: SessionsDep, customer_id: str | None = None) -> WorkloadList:
    async with sessions() as session:
        return WorkloadList(items=await repository.list_workloads(session=session, customer_id=customer_id))
