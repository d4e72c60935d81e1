"""A customer with many bare workloads (no instances), for the fleet-scan tests: `w00`, `w01`, ..."""

from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.fleet import Customer, Workload
from optiinfra.store import repository


def workload_ids(count: int) -> list[str]:
    return [f"w{n:02d}" for n in range(count)]


async def add_customer_with_workloads(session: AsyncSession, customer: str, count: int) -> None:
    await repository.upsert_customer(session=session, customer=Customer(customer_id=customer, name=customer))
    for workload_id in workload_ids(count):
        await repository.upsert_workload(
            session=session,
            workload=Workload(
                customer_id=customer,
                workload_id=workload_id,
                name=workload_id,
                model_name="m",
                region="us-east-1",
            ),
        )
