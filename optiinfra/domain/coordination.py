"""Coordination of the agents on one workload: conflicts between their proposals, how each was resolved,
and the customer's constraints that a joint optimization must respect."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from optiinfra.domain.enums import AgentKind


class ConflictKind(StrEnum):
    OPPOSITE_SCALING = "opposite_scaling"
    """One proposal adds serving capacity, another removes it."""
    SPOT_VS_RELIABILITY = "spot_vs_reliability"
    """A move to interruptible capacity while another agent acts to protect the SLO."""
    RESOURCE_CONTENTION = "resource_contention"
    """Both draw on the same GPU memory or accelerators (e.g. a larger KV cache on a smaller GPU)."""
    SAME_OBJECT = "same_object"
    """Both change the same instance, group or Deployment."""


class ResolutionMethod(StrEnum):
    PRIORITY = "priority"
    CONSTRAINT = "constraint"
    JOINT_REASONING = "joint_reasoning"


class CustomerConstraints(BaseModel):
    """Limits a joint optimization holds every accepted change to."""

    max_monthly_cost_increase_usd: float | None = Field(
        default=None, ge=0.0, description="No accepted change may raise the monthly bill by more"
    )
    min_slo_compliance: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Changes that risk the SLO (removing capacity, spot) are refused while the share of "
        "windows within the SLO is below this",
    )
    joint_reasoning: bool = Field(
        default=False, description="Ask the language-model layer to resolve conflicts (rules otherwise)"
    )


class Conflict(BaseModel):
    conflict_id: str
    kind: ConflictKind
    agents: list[AgentKind] = Field(min_length=2)
    titles: list[str] = Field(description="The conflicting proposals' titles, in the order of `agents`")
    objects: list[str] = Field(default_factory=list, description="What both proposals would change")
    description: str


class Resolution(BaseModel):
    conflict_id: str
    method: ResolutionMethod
    winner: AgentKind | None = Field(description="None: every proposal of the conflict was set aside")
    set_aside: list[AgentKind]
    reason: str
    written_by: str = "rules"


class StoredConflict(BaseModel):
    """A conflict and its resolution as the store keeps them for `GET /v1/conflicts`."""

    conflict: Conflict
    resolution: Resolution | None = None
    joint_workflow_id: str
    customer_id: str
    workload_id: str
    created_at: datetime
