"""The demo fleet the embedded twin starts with: one customer, five vLLM workloads, each with a story
that holds with the real catalog prices and Spot Advisor buckets.

- `chat-8b` serves an 8B model on one A10G each, but on 32-vCPU/128-GiB hosts it barely touches: a
  low-risk right-sizing to a smaller host of the same GPU (auto-executed in semi-autonomous mode).
- `code-assist` is stateless and not critical, on g5.xlarge (interrupted 5-10% of the time), its four
  replicas across two zones with one to spare at its peak: a spot-group candidate (an on-demand base that
  carries the peak if one zone's spot capacity is reclaimed) that waits for approval.
- `rag-embed` is well sized, stateful and critical: nothing to do.
- `batch-summarize` is an interruptible nightly batch on 4x L4 boxes: another spot candidate.
- `support-bot` is critical (no spot) and already on the cheapest type that holds its model (nothing to
  right-size), but its Auto Scaling group is pinned at its peak (min = max = desired = 4, no scaling
  policy) while its traffic swings through the day: an autoscaling policy that waits for approval.

Utilization follows a daily cycle (peak at `peak_hour_utc`) with Gaussian noise, from a seeded RNG."""

from pydantic import BaseModel, Field

from optiinfra.domain.enums import OperatingMode, PurchaseOption, RiskLevel, UtilizationMetric
from optiinfra.domain.fleet import AutomationPolicy, Customer, Workload

DEMO_REGION = "us-east-1"

A10G_MEMORY_MIB = 23028.0
L4_MEMORY_MIB = 23034.0
"""Per-GPU memory as nvidia-smi (and so the CloudWatch agent) reports it."""


class UtilizationProfile(BaseModel):
    """value(t) = mean + daily_amplitude * cos(2π (hour(t) - peak_hour_utc) / 24) + N(0, noise), in 0-100."""

    mean: float = Field(ge=0, le=100)
    daily_amplitude: float = Field(default=0.0, ge=0)
    noise: float = Field(default=0.0, ge=0)
    peak_hour_utc: float = Field(default=16.0, ge=0, lt=24)


class DemoWorkload(BaseModel):
    """One workload's replicas: `instance_count` identical instances, each following `profiles` with
    its own noise (and a mean shifted by up to ±`instance_spread` points)."""

    workload: Workload
    instance_type: str
    instance_count: int = Field(ge=1)
    lifecycle: PurchaseOption = PurchaseOption.ON_DEMAND
    gpu_memory_mib_per_gpu: float = Field(gt=0)
    instance_spread: float = Field(default=2.0, ge=0)
    profiles: dict[UtilizationMetric, UtilizationProfile]
    auto_scaling_group: bool = Field(
        default=False,
        description="Replicas launched by an Auto Scaling group held at min = max = desired = instance_count",
    )


class DemoFleet(BaseModel):
    customer: Customer
    region: str
    deployments: list[DemoWorkload]

    def workloads(self) -> list[Workload]:
        """The domain workloads, as the store registers them."""
        return [demo.workload for demo in self.deployments]

    def deployment(self, workload_id: str) -> DemoWorkload:
        return next(d for d in self.deployments if d.workload.workload_id == workload_id)


def _workload(
    workload_id: str,
    model_name: str,
    *,
    stateless: bool = True,
    critical: bool = False,
    min_on_demand_instances: int = 0,
) -> Workload:
    return Workload(
        customer_id="demo",
        workload_id=workload_id,
        name=workload_id.replace("-", " ").title(),
        model_name=model_name,
        region=DEMO_REGION,
        stateless=stateless,
        critical=critical,
        min_on_demand_instances=min_on_demand_instances,
    )


def _profiles(
    gpu: UtilizationProfile,
    gpu_memory: UtilizationProfile,
    cpu: UtilizationProfile,
    memory: UtilizationProfile,
) -> dict[UtilizationMetric, UtilizationProfile]:
    return {
        UtilizationMetric.GPU_UTILIZATION: gpu,
        UtilizationMetric.GPU_MEMORY_UTILIZATION: gpu_memory,
        UtilizationMetric.CPU_UTILIZATION: cpu,
        UtilizationMetric.MEMORY_UTILIZATION: memory,
    }


P = UtilizationProfile

DEMO_FLEET = DemoFleet(
    customer=Customer(
        customer_id="demo",
        name="Demo Inc.",
        automation=AutomationPolicy(
            operating_mode=OperatingMode.SEMI_AUTONOMOUS,
            auto_execute_min_confidence=0.8,
            auto_execute_max_risk=RiskLevel.LOW,
        ),
    ),
    region=DEMO_REGION,
    deployments=[
        DemoWorkload(
            workload=_workload("chat-8b", "meta-llama/Llama-3.1-8B-Instruct", stateless=True),
            instance_type="g5.8xlarge",
            instance_count=3,
            gpu_memory_mib_per_gpu=A10G_MEMORY_MIB,
            profiles=_profiles(
                gpu=P(mean=50, daily_amplitude=12, noise=2),
                gpu_memory=P(mean=72, daily_amplitude=4, noise=1),
                cpu=P(mean=6, daily_amplitude=2, noise=0.5),
                memory=P(mean=9, daily_amplitude=1, noise=0.3),
            ),
        ),
        DemoWorkload(
            workload=_workload(
                "code-assist", "Qwen/Qwen2.5-Coder-7B-Instruct", stateless=True, min_on_demand_instances=1
            ),
            instance_type="g5.xlarge",
            instance_count=4,
            gpu_memory_mib_per_gpu=A10G_MEMORY_MIB,
            profiles=_profiles(
                gpu=P(mean=48, daily_amplitude=8, noise=2.5),
                gpu_memory=P(mean=78, daily_amplitude=3, noise=1),
                cpu=P(mean=35, daily_amplitude=8, noise=3),
                memory=P(mean=45, daily_amplitude=3, noise=1.5),
            ),
        ),
        DemoWorkload(
            workload=_workload(
                "rag-embed",
                "intfloat/e5-mistral-7b-instruct",
                stateless=False,
                critical=True,
                min_on_demand_instances=2,
            ),
            instance_type="g6.xlarge",
            instance_count=2,
            gpu_memory_mib_per_gpu=L4_MEMORY_MIB,
            profiles=_profiles(
                gpu=P(mean=72, daily_amplitude=8, noise=3),
                gpu_memory=P(mean=84, daily_amplitude=2, noise=1),
                cpu=P(mean=40, daily_amplitude=8, noise=3),
                memory=P(mean=55, daily_amplitude=3, noise=1.5),
            ),
        ),
        DemoWorkload(
            workload=_workload(
                "batch-summarize", "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", stateless=True
            ),
            instance_type="g6.12xlarge",
            instance_count=2,
            gpu_memory_mib_per_gpu=L4_MEMORY_MIB,
            profiles=_profiles(
                gpu=P(mean=55, daily_amplitude=20, noise=4, peak_hour_utc=3),
                gpu_memory=P(mean=86, daily_amplitude=2, noise=1, peak_hour_utc=3),
                cpu=P(mean=25, daily_amplitude=10, noise=3, peak_hour_utc=3),
                memory=P(mean=48, daily_amplitude=4, noise=1.5, peak_hour_utc=3),
            ),
        ),
        DemoWorkload(
            # Qwen2.5-7B's 15 GB of FP16 weights leave a T4's 16 GB no room for a KV cache; g6.xlarge is
            # the cheapest NVIDIA type with more GPU memory.
            workload=_workload(
                "support-bot",
                "Qwen/Qwen2.5-7B-Instruct",
                stateless=True,
                critical=True,
                min_on_demand_instances=2,
            ),
            instance_type="g6.xlarge",
            instance_count=4,
            gpu_memory_mib_per_gpu=L4_MEMORY_MIB,
            auto_scaling_group=True,
            profiles=_profiles(
                gpu=P(mean=35, daily_amplitude=25, noise=3, peak_hour_utc=15),
                gpu_memory=P(mean=80, daily_amplitude=3, noise=1, peak_hour_utc=15),
                cpu=P(mean=22, daily_amplitude=12, noise=2, peak_hour_utc=15),
                memory=P(mean=50, daily_amplitude=3, noise=1, peak_hour_utc=15),
            ),
        ),
    ],
)


def demo_fleet(region: str = DEMO_REGION) -> DemoFleet:
    """A private copy (a caller that tweaks it does not change the demo for everyone else), placed in
    `region`."""
    fleet = DEMO_FLEET.model_copy(deep=True)
    fleet.region = region
    for demo in fleet.deployments:
        demo.workload.region = region
    return fleet
