"""Small hand-made instance types and demands whose optimum can be checked by hand or by enumeration."""

from agents.cost.plan import WorkloadDemand
from agents.cost.sizing import RequestShape, TypeCapacity
from optiinfra.domain.fleet import InstanceType, Workload

REGION = "test-1"
SHAPE = RequestShape(mean_prompt_tokens=1000, mean_output_tokens=100, ttft_p95_slo_s=3.0, itl_p95_slo_s=0.08)


def instance_type(
    name: str,
    on_demand: float,
    *,
    spot: float | None = None,
    bucket: int | None = None,
    reserved: float | None = None,
) -> InstanceType:
    return InstanceType(
        name=name,
        region=REGION,
        vcpu=8,
        memory_gib=32.0,
        gpu_model="NVIDIA L4",
        gpu_count=1,
        gpu_memory_gib=24.0,
        on_demand_hourly_usd=on_demand,
        spot_hourly_usd=spot,
        spot_interruption_bucket=bucket,
        reserved_hourly_usd={"1yr_standard_no_upfront": reserved} if reserved is not None else {},
    )


def capacity(it: InstanceType, rps: float) -> TypeCapacity:
    return TypeCapacity(instance_type=it, capacity_rps=rps)


BIG = capacity(instance_type("big.4x", 4.0, spot=1.0, bucket=1, reserved=2.4), 4.0)
SMALL = capacity(instance_type("small.1x", 1.2, spot=0.35, bucket=2, reserved=0.8), 1.0)
RISKY = capacity(instance_type("risky.2x", 1.5, spot=0.2, bucket=4, reserved=1.0), 2.0)
TYPES = [BIG, SMALL, RISKY]


def workload(*, stateless: bool = True, critical: bool = False, min_on_demand: int = 0) -> Workload:
    return Workload(
        customer_id="acme",
        workload_id="chat",
        name="Chat",
        model_name="Llama-3.1-8B",
        region=REGION,
        stateless=stateless,
        critical=critical,
        min_on_demand_instances=min_on_demand,
    )


def demand(
    hourly_rps: tuple[float, ...],
    *,
    stateless: bool = True,
    critical: bool = False,
    min_on_demand: int = 0,
    zones: int = 1,
    headroom: float = 0.25,
    reservations: bool = False,
) -> WorkloadDemand:
    return WorkloadDemand(
        workload=workload(stateless=stateless, critical=critical, min_on_demand=min_on_demand),
        shape=SHAPE,
        hourly_rps=hourly_rps,
        headroom=headroom,
        spot_zones=zones,
        reservations_allowed=reservations,
    )


def day(peak: float, trough: float, peak_hours: range = range(9, 21)) -> tuple[float, ...]:
    """A day at `peak` during `peak_hours` and `trough` otherwise."""
    return tuple(peak if hour in peak_hours else trough for hour in range(24))
