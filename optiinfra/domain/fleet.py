"""What a fleet is made of: customers, workloads, instances, instance types, utilization series."""

from datetime import datetime

from pydantic import BaseModel, Field

from optiinfra.domain.enums import OperatingMode, PurchaseOption, RiskLevel, UtilizationMetric


class AutomationPolicy(BaseModel):
    """Per-customer thresholds for acting without a person."""

    operating_mode: OperatingMode = OperatingMode.ADVISORY
    auto_execute_min_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    auto_execute_max_risk: RiskLevel = RiskLevel.LOW


class Customer(BaseModel):
    customer_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    automation: AutomationPolicy = Field(default_factory=AutomationPolicy)


class Workload(BaseModel):
    """A model served by a group of vLLM replicas, one per instance."""

    customer_id: str
    workload_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    model_name: str
    region: str
    stateless: bool = True
    critical: bool = False
    min_on_demand_instances: int = Field(default=0, ge=0)


class InstanceType(BaseModel):
    """An EC2 instance type with its prices in one region."""

    name: str
    region: str
    vcpu: int
    memory_gib: float
    gpu_model: str
    gpu_count: int
    gpu_memory_gib: float
    on_demand_hourly_usd: float
    spot_hourly_usd: float | None = None
    spot_interruption_bucket: int | None = Field(
        default=None,
        ge=0,
        le=4,
        description="AWS Spot Advisor index: 0 <5%, 1 5-10%, 2 10-15%, 3 15-20%, 4 >20%",
    )
    spot_savings_percent: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Spot discount off on-demand, as the interruption source states it",
    )
    spot_interruption_source: str | None = Field(
        default=None,
        description="Which feed gave the interruption bucket and savings, with its snapshot date",
    )
    reserved_hourly_usd: dict[str, float] = Field(
        default_factory=dict,
        description="Effective hourly cost (upfront amortised) by term, e.g. '1yr_standard_no_upfront'",
    )

    def hourly_price(self, lifecycle: PurchaseOption) -> float:
        """What an instance of this type pays per hour; spot falls back to on-demand when unknown."""
        if lifecycle is PurchaseOption.SPOT and self.spot_hourly_usd is not None:
            return self.spot_hourly_usd
        return self.on_demand_hourly_usd

    @property
    def gpu_memory_per_gpu_gib(self) -> float:
        return self.gpu_memory_gib / self.gpu_count if self.gpu_count else 0.0


class Instance(BaseModel):
    instance_id: str
    instance_type: str
    lifecycle: PurchaseOption
    state: str
    image_id: str
    subnet_id: str | None = None
    private_ip: str | None = None
    availability_zone: str | None = None
    launch_time: datetime | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class MetricSeries(BaseModel):
    """Evenly spaced samples of one utilization metric of one instance."""

    instance_id: str
    metric: UtilizationMetric
    start: datetime
    period_seconds: int = Field(gt=0)
    values: list[float]


class WorkloadSnapshot(BaseModel):
    """Everything an analyzer sees of a workload at one moment."""

    customer: Customer
    workload: Workload
    instances: list[Instance]
    instance_types: dict[str, InstanceType]
    candidate_types: list[InstanceType] = Field(
        default_factory=list, description="Types in the workload's region the agent may move to"
    )
    series: list[MetricSeries]
    collected_at: datetime

    def series_for(self, instance_id: str, metric: UtilizationMetric) -> MetricSeries | None:
        return next((s for s in self.series if s.instance_id == instance_id and s.metric == metric), None)
