"""How many replicas of which instance type a workload needs: the capacity model's requests per second
under the SLO for each type, and the cheapest type-and-count that carries a demand with headroom.

Shared by right-sizing (moving across GPU families) and by the plans the agent is measured with, so the
two cannot drift apart."""

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from agents.cost.pricing import monthly
from optiinfra.capacity import config_for_instance, max_rps_under_slo, memory_budget
from optiinfra.capacity.models import capacity_model_for
from optiinfra.domain.fleet import InstanceType


class RequestShape(BaseModel):
    """The workload's requests and latency objective, as the capacity model needs them."""

    model_config = ConfigDict(frozen=True)

    mean_prompt_tokens: float = Field(gt=0)
    mean_output_tokens: float = Field(gt=0)
    p95_prompt_tokens: float | None = Field(default=None, gt=0)
    ttft_p95_slo_s: float = Field(gt=0)
    itl_slo_s: float = Field(gt=0)


def replica_capacity_rps(instance_type: InstanceType, model_name: str, shape: RequestShape) -> float:
    """Requests per second one replica of `model_name` on `instance_type` serves within the SLO; 0 when the
    model does not fit the type's GPU memory, the GPU or model is unknown, or a lone request misses the
    SLO."""
    try:
        config = config_for_instance(instance_type, capacity_model_for(model_name))
    except (KeyError, ValueError):
        return 0.0
    if not memory_budget(config).fits:
        return 0.0
    return max_rps_under_slo(
        config,
        shape.mean_prompt_tokens,
        shape.mean_output_tokens,
        shape.ttft_p95_slo_s,
        shape.itl_slo_s,
        shape.p95_prompt_tokens,
    )


def replicas_needed(demand_rps: float, capacity_rps: float, headroom: float) -> int:
    """Replicas that carry `demand_rps` with `headroom` spare on each; at least one."""
    if capacity_rps <= 0:
        raise ValueError("a type with no capacity cannot carry demand")
    return max(1, math.ceil(demand_rps * (1.0 + headroom) / capacity_rps - 1e-9))


class TypeCapacity(BaseModel):
    """One candidate type and what one replica of the workload carries on it."""

    instance_type: InstanceType
    capacity_rps: float = Field(gt=0)


class Sizing(BaseModel):
    """A replica count on one type, with its on-demand monthly cost."""

    instance_type: InstanceType
    replicas: int = Field(ge=1)
    capacity_rps: float = Field(gt=0, description="Per replica, under the SLO")

    @property
    def monthly_on_demand_usd(self) -> float:
        return monthly(self.instance_type.on_demand_hourly_usd) * self.replicas


def type_capacities(
    candidates: Iterable[InstanceType], model_name: str, shape: RequestShape
) -> list[TypeCapacity]:
    """The candidates the model can be served on, with their per-replica capacity."""
    found: list[TypeCapacity] = []
    for candidate in candidates:
        capacity = replica_capacity_rps(candidate, model_name, shape)
        if capacity > 0:
            found.append(TypeCapacity(instance_type=candidate, capacity_rps=capacity))
    return found


def cheapest_sizing(peak_rps: float, headroom: float, capacities: Iterable[TypeCapacity]) -> Sizing | None:
    """The type and count with the lowest on-demand cost that carries `peak_rps` plus headroom; ties go to
    fewer replicas, then the type name, so the answer is stable."""
    sizings = [
        Sizing(
            instance_type=c.instance_type,
            replicas=replicas_needed(peak_rps, c.capacity_rps, headroom),
            capacity_rps=c.capacity_rps,
        )
        for c in capacities
    ]
    return min(
        sizings,
        key=lambda s: (round(s.monthly_on_demand_usd, 6), s.replicas, s.instance_type.name),
        default=None,
    )
