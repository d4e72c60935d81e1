"""One workload as the web console's workload page shows it: the workload, its fleet as last measured, its
measured cost and its latest recommendations.

Everything measured comes from the hourly cost records of the workload's instances (found as the reports
find them: the replicas its windows name and the instances its executed changes named), so a figure is
what was recorded, never one worked out from the registration: the fleet is the instances of the last hour
that has records, the cost the records of the last 30 days. When nothing was recorded (no metrics store in
this process, a Kubernetes workload whose pods carry no instance cost, a workload not collected yet) the
fleet and the cost are null and a note says why."""

from datetime import date, datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.cost.pricing import HOURS_PER_MONTH
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import Workload
from optiinfra.domain.recommendation import Recommendation
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.metrics.store import CostSample
from optiinfra.reports.assemble import NO_METRICS
from optiinfra.reports.costs import hour_costs, totals
from optiinfra.reports.days import DayRange
from optiinfra.reports.readers import changes_in_scope, gpus_by_type, gpus_of_types, workload_cost_samples
from optiinfra.store import repository

RECENT_RECOMMENDATIONS = 10
UNMEASURED = (
    "no hourly cost record of the workload's instances in these days, so its fleet and cost are unknown"
)
ON_KUBERNETES = (
    "a Kubernetes workload's pods carry no instance cost of their own, so its fleet and cost are unknown"
)


class FleetInstance(BaseModel):
    instance_id: str
    instance_type: str
    lifecycle: PurchaseOption
    gpu_model: str | None = Field(description="Null when the price catalog does not know the type")
    gpus: int | None = Field(description="GPUs of one instance of the type; null when unknown")
    hourly_usd: float = Field(description="What the instance cost in that hour")


class MeasuredFleet(BaseModel):
    hour: datetime = Field(
        description="Start of the last hour with a cost record of the workload's instances"
    )
    replicas: int = Field(description="Instances with a record in that hour")
    gpus: int
    hourly_cost_usd: float
    instances: list[FleetInstance]


class MeasuredCost(BaseModel):
    since: date
    until: date = Field(description="Excluded")
    measured_hours: int = Field(description="Hours with at least one cost record; others are unmeasured")
    total_cost_usd: float
    hourly_cost_usd: float = Field(description="Mean over the measured hours")
    monthly_cost_usd: float = Field(description=f"hourly_cost_usd x {HOURS_PER_MONTH:g}")
    gpu_hours: float


class WorkloadFacts(BaseModel):
    """What the workload page shows; the API turns the recommendations into its list items."""

    workload: Workload
    fleet: MeasuredFleet | None
    cost: MeasuredCost | None
    notes: list[str]
    recommendations: list[Recommendation]
    recommendations_total: int


async def workload_facts(
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    days: DayRange,
    *,
    customer_id: str,
    workload_id: str,
) -> WorkloadFacts | None:
    """None when the customer has no such workload."""
    async with sessions() as session:
        workload = await repository.get_workload(
            session=session, customer_id=customer_id, workload_id=workload_id
        )
        if workload is None:
            return None
        recent, total = await repository.page_recommendations(
            session=session,
            status=None,
            customer_id=customer_id,
            workload_id=workload_id,
            limit=RECENT_RECOMMENDATIONS,
            offset=0,
        )
    samples: list[CostSample] = []
    if metrics is not None:
        changes = await changes_in_scope(sessions, customer_id)
        resources = {r for c in changes if c.workload_id == workload_id for r in c.resources}
        samples = await workload_cost_samples(
            metrics, workload, days.start_at, days.end_at, resources=resources
        )
    notes = _notes(workload, metrics, samples)
    return WorkloadFacts(
        workload=workload,
        fleet=last_fleet(samples),
        cost=measured_cost(samples, days),
        notes=notes,
        recommendations=recent,
        recommendations_total=total,
    )


def _notes(workload: Workload, metrics: ReportingMetrics | None, samples: list[CostSample]) -> list[str]:
    if metrics is None:
        return [NO_METRICS]
    if samples:
        return []
    return [ON_KUBERNETES if workload.on_kubernetes else UNMEASURED]


def last_fleet(samples: list[CostSample]) -> MeasuredFleet | None:
    """The instances recorded in the last hour that has any record; None without records."""
    if not samples:
        return None
    hour = max(sample.hour for sample in samples)
    last = sorted((s for s in samples if s.hour == hour), key=lambda s: s.instance_id)
    specs = gpus_of_types()
    instances = [
        FleetInstance(
            instance_id=s.instance_id,
            instance_type=s.instance_type,
            lifecycle=s.lifecycle,
            gpu_model=specs[s.instance_type].model if s.instance_type in specs else None,
            gpus=specs[s.instance_type].count if s.instance_type in specs else None,
            hourly_usd=s.hourly_usd,
        )
        for s in last
    ]
    return MeasuredFleet(
        hour=hour,
        replicas=len(instances),
        gpus=sum(instance.gpus or 0 for instance in instances),
        hourly_cost_usd=sum(instance.hourly_usd for instance in instances),
        instances=instances,
    )


def measured_cost(samples: list[CostSample], days: DayRange) -> MeasuredCost | None:
    """The records' totals over the days, the monthly figure from their mean hour; None without records."""
    spent = totals(hour_costs(samples, gpus_by_type(), {}))
    hourly = spent.hourly_cost_usd
    if hourly is None:
        return None
    return MeasuredCost(
        since=days.first,
        until=days.end,
        measured_hours=spent.measured_hours,
        total_cost_usd=spent.cost_usd,
        hourly_cost_usd=hourly,
        monthly_cost_usd=hourly * HOURS_PER_MONTH,
        gpu_hours=spent.gpu_hours,
    )
