"""What the reports read: the workloads in scope and their executed changes from the store, and a
workload's hourly costs from the metrics store."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Workload
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.metrics.store import CostSample
from optiinfra.reports.changes import ExecutedChange, executed_changes
from optiinfra.reports.costs import HourCost, gpu_utilization_by_hour, hour_costs
from optiinfra.store import repository
from optiinfra.store.executed import executed_records

UTILIZATION_PERIOD_SECONDS = 3600


class ReportScopeError(LookupError):
    """The customer or workload a report names does not exist."""


async def workloads_in_scope(
    sessions: async_sessionmaker[AsyncSession], customer_id: str | None, workload_id: str | None
) -> list[Workload]:
    """The customer's workloads (every customer's with None), narrowed to `workload_id` when given."""
    async with sessions() as session:
        if (
            customer_id is not None
            and await repository.get_customer(session=session, customer_id=customer_id) is None
        ):
            raise ReportScopeError(f"no customer {customer_id}")
        found = await repository.list_workloads(session=session, customer_id=customer_id)
    if workload_id is None:
        return found
    found = [w for w in found if w.workload_id == workload_id]
    if not found:
        raise ReportScopeError(f"no workload {workload_id}" + (f" of {customer_id}" if customer_id else ""))
    return found


async def changes_in_scope(
    sessions: async_sessionmaker[AsyncSession], customer_id: str | None
) -> list[ExecutedChange]:
    async with sessions() as session:
        return executed_changes(await executed_records(session=session, customer_id=customer_id))


@dataclass(frozen=True)
class InstanceGpus:
    model: str
    count: int


@cache
def gpus_of_types() -> Mapping[str, InstanceGpus]:
    """GPU model and count per instance type, from the bundled catalog (the same in every region)."""
    catalog = PriceCatalog.load_default()
    return MappingProxyType(
        {
            t.name: InstanceGpus(model=t.gpu_model, count=t.gpu_count)
            for region in catalog.regions()
            for t in catalog.types_in(region)
        }
    )


@cache
def gpus_by_type() -> Mapping[str, int]:
    """GPUs per instance type."""
    return MappingProxyType({name: gpus.count for name, gpus in gpus_of_types().items()})


async def workload_hours(
    metrics: ReportingMetrics,
    workload: Workload,
    start: datetime,
    end: datetime,
    *,
    resources: Collection[str] = (),
    utilization: bool = False,
) -> tuple[list[HourCost], int]:
    """The workload's hours in [start, end) with the number of instances that had a cost record."""
    samples = await workload_cost_samples(metrics, workload, start, end, resources=resources)
    costed = sorted({sample.instance_id for sample in samples})
    used = {}
    if utilization and costed:
        series = await metrics.read_utilization(costed, start, end, UTILIZATION_PERIOD_SECONDS)
        used = gpu_utilization_by_hour(series)
    return hour_costs(samples, gpus_by_type(), used), len(costed)


async def workload_cost_samples(
    metrics: ReportingMetrics,
    workload: Workload,
    start: datetime,
    end: datetime,
    *,
    resources: Collection[str] = (),
) -> list[CostSample]:
    """The hourly cost records of the workload's instances in [start, end).

    Its instances are the replicas its windows in the span name, and `resources` (what its changes' steps
    named). Only the customer's own records count, whatever an id may collide with."""
    replicas = await metrics.workload_replicas(workload.customer_id, workload.workload_id, start, end)
    instances = sorted(set(replicas) | set(resources))
    return [
        sample
        for sample in await metrics.read_cost_samples(instances, start, end)
        if sample.customer_id == workload.customer_id
    ]
