"""What a fleet is made of: customers, workloads, instances, instance types, utilization series."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiinfra.domain.application import ApplicationProfile
from optiinfra.domain.bounds import STORED_INT_MAX
from optiinfra.domain.capacity_profiles import CapacityProfile
from optiinfra.domain.enums import OperatingMode, PurchaseOption, RequestRouting, RiskLevel, UtilizationMetric
from optiinfra.domain.kube import DeploymentState
from optiinfra.domain.performance import ReplicaLoad, RequestRateHistory, WorkloadWindow
from optiinfra.domain.resource import PrefixCacheProfile

KUBE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""A DNS-1123 label, as Kubernetes names namespaces and Deployments."""


class AutomationPolicy(BaseModel):
    """Per-customer thresholds for acting without a person. A misspelt threshold is refused, not dropped."""

    model_config = ConfigDict(extra="forbid")

    operating_mode: OperatingMode = OperatingMode.ADVISORY
    auto_execute_min_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    auto_execute_max_risk: RiskLevel = RiskLevel.LOW


class GpuBudget(BaseModel):
    """Caps on the customer's whole fleet that every proposal respects: a change that would take the
    fleet's GPUs or its monthly cost above a cap is held back (one that lowers them never is). A misspelt
    cap is refused, not dropped."""

    model_config = ConfigDict(extra="forbid")

    max_gpus: int | None = Field(default=None, ge=0, le=STORED_INT_MAX, description="None: no GPU cap")
    max_monthly_usd: float | None = Field(
        default=None, ge=0, le=1e12, allow_inf_nan=False, description="None: no spend cap"
    )


class CustomerFleetUsage(BaseModel):
    """The customer's running fleet in its account now, across all its workloads."""

    instances: int = Field(ge=0)
    gpus: int = Field(ge=0)
    monthly_usd: float = Field(ge=0, description="Running instances at their hourly price x 730")


class Customer(BaseModel):
    customer_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    automation: AutomationPolicy = Field(default_factory=AutomationPolicy)
    budget: GpuBudget = Field(default_factory=GpuBudget)


class Workload(BaseModel):
    """A model served by a group of vLLM replicas, one per instance."""

    customer_id: str
    workload_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    model_name: str
    region: str
    stateless: bool = True
    critical: bool = False
    min_on_demand_instances: int = Field(default=0, ge=0, le=STORED_INT_MAX)
    slo_ttft_p95_s: float | None = Field(default=None, gt=0, description="p95 time to first token objective")
    slo_itl_p95_s: float | None = Field(default=None, gt=0, description="Inter-token latency objective")
    kube_namespace: str | None = Field(
        default=None, pattern=KUBE_NAME_PATTERN, description="Namespace of the Deployment serving it, if any"
    )
    kube_deployment: str | None = Field(
        default=None, pattern=KUBE_NAME_PATTERN, description="The Kubernetes Deployment of its vLLM replicas"
    )
    request_routing: RequestRouting = Field(
        default=RequestRouting.ROUND_ROBIN,
        description="How requests reach the replicas; a plain Service spreads them without prefix affinity",
    )

    @model_validator(mode="after")
    def _deployment_has_namespace(self) -> "Workload":
        if (self.kube_namespace is None) != (self.kube_deployment is None):
            raise ValueError("kube_namespace and kube_deployment are given together or not at all")
        return self

    @property
    def on_kubernetes(self) -> bool:
        return self.kube_deployment is not None


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


class UsageHour(BaseModel):
    """How many of a workload's instances ran in one hour, per type and purchase option: the billing view
    of its history, from which a steady baseline worth reserving is read."""

    hour: datetime
    instance_type: str
    lifecycle: PurchaseOption
    instances: int = Field(ge=0)


class ActiveReservation(BaseModel):
    """A reservation already bought for the workload (it covers that many instances of the type)."""

    reservation_id: str
    instance_type: str
    instance_count: int = Field(ge=0)
    end: datetime | None = None


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
    scaling_group: "ScalingGroupState | None" = Field(
        default=None, description="The Auto Scaling group the workload runs in, if any"
    )
    usage: list[UsageHour] = Field(default_factory=list, description="Hourly instance counts, up to 90 days")
    reservations: list[ActiveReservation] = Field(default_factory=list)
    deployment: DeploymentState | None = Field(
        default=None, description="The Kubernetes Deployment serving the workload, if it runs on one"
    )
    windows: list[WorkloadWindow] = Field(
        default_factory=list, description="Recent vLLM latency windows, all replicas together"
    )
    request_rate: RequestRateHistory | None = Field(
        default=None, description="Weeks of request rate on an even grid, for forecasting"
    )
    replica_loads: list[ReplicaLoad] = Field(
        default_factory=list, description="Each replica's recent share of the traffic"
    )
    prefix_cache: PrefixCacheProfile | None = Field(
        default=None, description="The workload's prefix trace replayed through kvtier (Resource agent)"
    )
    application: ApplicationProfile | None = Field(
        default=None, description="The workload's request log, profiled per request type (Application agent)"
    )
    capacity_profiles: list[CapacityProfile] = Field(
        default_factory=list,
        description="Measured latency/throughput curves for the workload's deployments (profile import)",
    )
    customer_fleet: "CustomerFleetUsage | None" = Field(
        default=None, description="The customer's whole fleet now: what its GPU budget is held against"
    )

    def series_for(self, instance_id: str, metric: UtilizationMetric) -> MetricSeries | None:
        return next((s for s in self.series if s.instance_id == instance_id and s.metric == metric), None)


class ScalingMetric(BaseModel):
    """What a target-tracking policy holds at its target value: a predefined Auto Scaling metric (e.g.
    `ASGAverageCPUUtilization`) or one CloudWatch metric, read with `statistic` across the group."""

    predefined_metric_type: str | None = None
    resource_label: str | None = Field(default=None, description="Only for ALBRequestCountPerTarget")
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: str = "Average"

    @model_validator(mode="after")
    def _predefined_or_customized(self) -> "ScalingMetric":
        customized = self.namespace is not None and self.metric_name is not None
        if (self.predefined_metric_type is not None) == customized:
            raise ValueError("a scaling metric is either predefined or a namespace and metric name")
        return self


class ScalingPolicy(BaseModel):
    """A target-tracking scaling policy of an Auto Scaling group."""

    name: str = Field(min_length=1, max_length=255)
    metric: ScalingMetric
    target_value: float
    disable_scale_in: bool = False
    estimated_instance_warmup: int | None = Field(
        default=None, ge=0, description="Seconds before a new instance's readings count in the metric"
    )


class ScalingGroupState(BaseModel):
    """An Auto Scaling group as OptiInfra sees it: size limits, cooldown, instances and policies."""

    name: str
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    default_cooldown: int = Field(ge=0, description="Seconds")
    instance_ids: list[str] = Field(default_factory=list)
    policies: list[ScalingPolicy] = Field(default_factory=list, description="Its target-tracking policies")
    other_policies: list[str] = Field(
        default_factory=list,
        description="Names of policies OptiInfra does not model (simple, step, predictive, metric math)",
    )
    on_demand_base_capacity: int | None = Field(
        default=None, ge=0, description="With a mixed-instances policy: the instances always on-demand"
    )
    spot_instance_types: list[str] = Field(
        default_factory=list, description="With a mixed-instances policy: the types it may launch"
    )
    capacity_rebalance: bool = False
    in_service: int = Field(default=0, ge=0, description="Instances in service")

    @property
    def mixed(self) -> bool:
        """It keeps an on-demand base and fills the rest with spot across its types."""
        return self.on_demand_base_capacity is not None

    def policy(self, name: str) -> ScalingPolicy | None:
        return next((p for p in self.policies if p.name == name), None)


class SpotGroupSpec(BaseModel):
    """An Auto Scaling group that holds a workload's replicas: `on_demand_base` of them always on-demand,
    the rest spot, launched across several capacity-equivalent instance types and subnets at the lowest
    price among the deepest pools (price-capacity-optimized), and replaced when reclaimed (capacity
    rebalancing launches the replacement on the rebalance recommendation, before the interruption)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
    source_instance_id: str = Field(description="The replica whose launch setup the group copies")
    instance_types: list[str] = Field(min_length=1, description="The first is the launch template's type")
    subnet_ids: list[str] = Field(min_length=1)
    desired_capacity: int = Field(ge=1)
    on_demand_base: int = Field(ge=0)
    drain_seconds: int = Field(
        default=120,
        ge=30,
        le=7200,
        description="How long a terminating replica (rebalanced, reclaimed or scaled in) is held before its "
        "instance goes, so its in-flight requests finish: the group's termination lifecycle hook",
    )

    @model_validator(mode="after")
    def _base_within_capacity(self) -> "SpotGroupSpec":
        if self.on_demand_base > self.desired_capacity:
            raise ValueError("the on-demand base cannot exceed the group's capacity")
        return self


WorkloadSnapshot.model_rebuild()
