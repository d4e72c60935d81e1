"""How many replicas of which instance type a workload needs: the capacity model's requests per second
under the SLO for each type, and the cheapest type-and-count that carries a demand with headroom.

Shared by right-sizing (moving across GPU families) and by the plans the agent is measured with, so the
two cannot drift apart."""

import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from agents.cost.pricing import monthly
from optiinfra.capacity import config_for_instance, memory_budget
from optiinfra.capacity.estimate import CapacityEstimator, SloCapacity
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.shape import ShapeSource, TokenShape
from optiinfra.domain.fleet import InstanceType


class RequestShape(BaseModel):
    """The workload's requests and latency objective, as the capacity model needs them."""

    model_config = ConfigDict(frozen=True)

    mean_prompt_tokens: float = Field(gt=0)
    mean_output_tokens: float = Field(gt=0)
    p95_prompt_tokens: float | None = Field(default=None, gt=0)
    p99_prompt_tokens: float | None = Field(default=None, gt=0)
    ttft_p95_slo_s: float = Field(gt=0)
    itl_p95_slo_s: float = Field(gt=0)
    shape_source: ShapeSource = ShapeSource.TOKEN_COUNTERS

    @property
    def tokens(self) -> TokenShape:
        return TokenShape(
            self.mean_prompt_tokens,
            max(1.0, self.mean_output_tokens),
            self.p95_prompt_tokens,
            self.p99_prompt_tokens,
            self.shape_source,
        )


def replica_capacity(
    instance_type: InstanceType,
    model_name: str,
    shape: RequestShape,
    estimator: CapacityEstimator | None = None,
) -> SloCapacity | None:
    """Requests per second one replica of `model_name` on `instance_type` serves within the SLO, from the
    best capacity source; None when the GPU or model is unknown or the model does not fit the type's GPU
    memory (a rate of 0: a lone request misses the SLO)."""
    try:
        config = config_for_instance(instance_type, capacity_model_for(model_name))
    except (KeyError, ValueError):
        return None
    if not memory_budget(config).fits:
        return None
    return (estimator or CapacityEstimator()).max_rps_under_slo(
        config, shape.tokens, shape.ttft_p95_slo_s, shape.itl_p95_slo_s
    )


def replica_capacity_rps(
    instance_type: InstanceType,
    model_name: str,
    shape: RequestShape,
    estimator: CapacityEstimator | None = None,
) -> float:
    """`replica_capacity`'s rate, 0 where it has none."""
    found = replica_capacity(instance_type, model_name, shape, estimator)
    return found.requests_per_s if found is not None else 0.0


def replicas_needed(demand_rps: float, capacity_rps: float, headroom: float) -> int:
    """Replicas that carry `demand_rps` with `headroom` spare on each; at least one."""
    if capacity_rps <= 0:
        raise ValueError("a type with no capacity cannot carry demand")
    return max(1, math.ceil(demand_rps * (1.0 + headroom) / capacity_rps - 1e-9))


class TypeCapacity(BaseModel):
    """One candidate type and what one replica of the workload carries on it."""

    instance_type: InstanceType
    capacity_rps: float = Field(gt=0)
    capacity_source: str = Field(default="roofline", description="Which capacity source answered")


class Sizing(BaseModel):
    """A replica count on one type, with its on-demand monthly cost."""

    instance_type: InstanceType
    replicas: int = Field(ge=1)
    capacity_rps: float = Field(gt=0, description="Per replica, under the SLO")
    capacity_source: str = Field(default="roofline", description="Which capacity source answered")

    @property
    def monthly_on_demand_usd(self) -> float:
        return monthly(self.instance_type.on_demand_hourly_usd) * self.replicas


def type_capacities(
    candidates: Iterable[InstanceType],
    model_name: str,
    shape: RequestShape,
    estimator: CapacityEstimator | None = None,
) -> list[TypeCapacity]:
    """The candidates the model can be served on, with their per-replica capacity and its source."""
    found: list[TypeCapacity] = []
    for candidate in candidates:
        capacity = replica_capacity(candidate, model_name, shape, estimator)
        if capacity is not None and capacity.requests_per_s > 0:
            found.append(
                TypeCapacity(
                    instance_type=candidate,
                    capacity_rps=capacity.requests_per_s,
                    capacity_source=capacity.source.value,
                )
            )
    return found


def sizings(peak_rps: float, headroom: float, capacities: Iterable[TypeCapacity]) -> list[Sizing]:
    """Per candidate, the replicas that carry `peak_rps` plus headroom."""
    return [
        Sizing(
            instance_type=c.instance_type,
            replicas=replicas_needed(peak_rps, c.capacity_rps, headroom),
            capacity_rps=c.capacity_rps,
            capacity_source=c.capacity_source,
        )
        for c in capacities
    ]


def cheapest_on_demand(candidates: Iterable[Sizing]) -> Sizing | None:
    """The sizing with the lowest on-demand cost; ties go to fewer replicas, then the type name, so the
    answer is stable."""
    return min(
        candidates,
        key=lambda s: (round(s.monthly_on_demand_usd, 6), s.replicas, s.instance_type.name),
        default=None,
    )


def cheapest_sizing(peak_rps: float, headroom: float, capacities: Iterable[TypeCapacity]) -> Sizing | None:
    """The type and count with the lowest on-demand cost that carries `peak_rps` plus headroom."""
    return cheapest_on_demand(sizings(peak_rps, headroom, capacities))
