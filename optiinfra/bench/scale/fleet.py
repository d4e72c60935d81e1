"""The scale benchmark's fleets.

- Synthetic (`--analysis stub`): N bare workloads (no instances: the stand-in analyzers need none) across
  customers of `per_customer` workloads each, `scale-c0000/w0000`, ...
- Demo copies (`--analysis real`): the embedded demo fleet's instance-backed workloads, copied under as
  many customers as it takes to reach N, each with 14 days of CloudWatch history seeded in the twin
  cloud, so the real analyzers have what they have in `optiinfra run`."""

import asyncio
from datetime import datetime
from functools import partial

import boto3
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.fleet import Customer, Workload
from optiinfra.sim.demo_fleet import DemoFleet, demo_fleet
from optiinfra.sim.seed import seed_fleet
from optiinfra.store import repository

SYNTHETIC_CUSTOMER_PREFIX = "scale-c"
DEMO_COPY_PREFIX = "scale-demo-"


def synthetic_fleet(workloads: int, per_customer: int, region: str) -> list[Workload]:
    return [
        Workload(
            customer_id=f"{SYNTHETIC_CUSTOMER_PREFIX}{n // per_customer:04d}",
            workload_id=f"w{n:05d}",
            name=f"w{n:05d}",
            model_name="meta-llama/Llama-3.1-8B-Instruct",
            region=region,
        )
        for n in range(workloads)
    ]


def demo_copy(index: int, region: str) -> DemoFleet:
    """The demo fleet under customer `scale-demo-<index>`."""
    fleet = demo_fleet(region)
    customer_id = f"{DEMO_COPY_PREFIX}{index:03d}"
    fleet.customer = fleet.customer.model_copy(update={"customer_id": customer_id, "name": customer_id})
    for demo in fleet.deployments:
        demo.workload = demo.workload.model_copy(update={"customer_id": customer_id})
    return fleet


async def seed_demo_copies(workloads: int, endpoint_url: str, region: str, now: datetime) -> list[Workload]:
    """Copies of the demo fleet in the twin cloud until they hold `workloads` workloads; the first
    `workloads` of them."""
    session = boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=region
    )
    ec2 = session.client("ec2", endpoint_url=endpoint_url)
    cloudwatch = session.client("cloudwatch", endpoint_url=endpoint_url)
    autoscaling = session.client("autoscaling", endpoint_url=endpoint_url)
    chosen: list[Workload] = []
    index = 0
    while len(chosen) < workloads:
        fleet = demo_copy(index, region)
        await asyncio.to_thread(partial(seed_fleet, ec2, cloudwatch, autoscaling, fleet, now, days=14))
        chosen.extend(fleet.workloads()[: workloads - len(chosen)])
        index += 1
    return chosen


async def register(sessions: async_sessionmaker[AsyncSession], workloads: list[Workload]) -> int:
    """The workloads and their customers in the store; how many customers."""
    customers = sorted({w.customer_id for w in workloads})
    async with sessions.begin() as session:
        for customer_id in customers:
            await repository.upsert_customer(
                session=session, customer=Customer(customer_id=customer_id, name=customer_id)
            )
        for workload in workloads:
            await repository.upsert_workload(session=session, workload=workload)
    return len(customers)
