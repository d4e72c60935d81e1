"""Request and response bodies of the API (the OpenAPI document at /docs is generated from these). The
bodies a command-line client reads back are in `api.responses`, which imports no server part."""

import re
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict

from api.responses import RecommendationItem
from optiinfra.control.schedule_spec import ScanScheduleSpec
from optiinfra.domain.agent_choice import DistinctAgents
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.fleet import KUBE_NAME_PATTERN, AutomationPolicy, GpuBudget, Workload
from optiinfra.privacy.aggregates import PromptStructure, RagRetrievalStats
from optiinfra.privacy.records import Identifier, QualityComparison, TokenRecord
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.reports.workload_detail import MeasuredCost, MeasuredFleet, WorkloadFacts

IDENTIFIER = r"^[a-z0-9][a-z0-9-]{0,62}$"
ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_text(value: object) -> object:
    """Query strings are text: a bare number must not pass as a Unix time, as pydantic would let it."""
    if not isinstance(value, str | datetime) or (isinstance(value, str) and not ISO_DATE_START.match(value)):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-12-01T00:00:00Z")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]
MAX_PAGE = 500
ItemT = TypeVar("ItemT")


class PageParams(BaseModel):
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageQuery = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[ItemT]):
    """One page of a list: `total` items match the filters; this page starts at `offset`."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: list[ItemT], total: int, params: PageParams) -> "Page[ItemT]":
        return cls(items=items, total=total, limit=params.limit, offset=params.offset)


class OptimizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(pattern=IDENTIFIER)
    workload_id: str = Field(pattern=IDENTIFIER)
    agents: DistinctAgents = Field(
        default=[AgentKind.COST],
        min_length=1,
        max_length=len(AgentKind),
        json_schema_extra={"uniqueItems": True},
    )


class DecisionBody(BaseModel):
    """The decider is the authenticated principal; `approver` is only a display note beside it."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    approver: str | None = Field(
        default=None, max_length=200, description="A display note (e.g. a person's name behind a shared key)"
    )


class WorkloadDetail(BaseModel):
    """A workload with what was measured of it (see `optiinfra.reports.workload_detail`) and its newest
    recommendations."""

    workload: Workload
    fleet: MeasuredFleet | None = Field(description="As last measured; null when nothing was (see notes)")
    cost: MeasuredCost | None = Field(description="Over the last 30 days; null when nothing was measured")
    notes: list[str] = Field(description="Why a figure is missing")
    recommendations: list[RecommendationItem] = Field(description="The 10 newest")
    recommendations_total: int = Field(description="All of the workload's recommendations")

    @classmethod
    def of(cls, facts: WorkloadFacts) -> "WorkloadDetail":
        return cls(
            **facts.model_dump(exclude={"recommendations"}),
            recommendations=[RecommendationItem.of(r) for r in facts.recommendations],
        )


class Health(BaseModel):
    status: str
    temporal: bool
    database: bool


class CustomerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    automation: AutomationPolicy = Field(default_factory=AutomationPolicy)
    budget: GpuBudget = Field(default_factory=GpuBudget)


def _given_together(first: str, second: str) -> JsonDict:
    """JSON Schema for "when `first` is a string, `second` is one too"."""
    return {
        "if": {"required": [first], "properties": {first: {"type": "string"}}},
        "then": {"required": [second], "properties": {second: {"type": "string"}}},
    }


class WorkloadBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                _given_together("kube_namespace", "kube_deployment"),
                _given_together("kube_deployment", "kube_namespace"),
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    model_name: str = Field(min_length=1, max_length=200)
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    stateless: bool = True
    critical: bool = False
    min_on_demand_instances: int = Field(default=0, ge=0, le=10_000)
    slo_ttft_p95_s: float | None = Field(default=None, gt=0, le=600)
    slo_itl_p95_s: float | None = Field(default=None, gt=0, le=10)
    kube_namespace: str | None = Field(default=None, pattern=KUBE_NAME_PATTERN)
    kube_deployment: str | None = Field(default=None, pattern=KUBE_NAME_PATTERN)

    @model_validator(mode="after")
    def _deployment_has_namespace(self) -> "WorkloadBody":
        if (self.kube_namespace is None) != (self.kube_deployment is None):
            raise ValueError("kube_namespace and kube_deployment are given together or not at all")
        return self


# Privacy tiers and the Application agent's inputs

MAX_TOKEN_RECORDS_PER_CALL = 10_000
MAX_AGGREGATES_PER_CALL = 1_000
MAX_PROMPTS_PER_CALL = 100
MAX_PROMPT_CHARS = 1_000_000


class PrivacyTierBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: PrivacyTier = Field(description="1: metrics only; 2: plus aggregates; 3: plus prompt content")
    changed_by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    reason: str = Field(default="", max_length=2000)


class RequestLogBody(BaseModel):
    """Tier-1 records: a record with any field beyond TokenRecord's (a prompt, say) fails the whole body."""

    model_config = ConfigDict(extra="forbid")

    records: list[TokenRecord] = Field(min_length=1, max_length=MAX_TOKEN_RECORDS_PER_CALL)


class QualityComparisonsBody(BaseModel):
    """A routing quality sample: requests answered by both models, each cheaper answer judged no worse or
    worse. Tier 1 like the request log: a comparison with any other field (an answer's text) fails the
    body."""

    model_config = ConfigDict(extra="forbid")

    comparisons: list[QualityComparison] = Field(min_length=1, max_length=MAX_TOKEN_RECORDS_PER_CALL)


class AggregatesBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"minItems": 1}}}
                for name in ("rag_retrieval", "prompt_structure")
            ]
        },
    )

    rag_retrieval: list[RagRetrievalStats] = Field(default_factory=list, max_length=MAX_AGGREGATES_PER_CALL)
    prompt_structure: list[PromptStructure] = Field(default_factory=list, max_length=MAX_AGGREGATES_PER_CALL)

    @model_validator(mode="after")
    def _not_empty(self) -> "AggregatesBody":
        if not self.rag_retrieval and not self.prompt_structure:
            raise ValueError("give at least one aggregate")
        return self


class PromptItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_ref: Identifier = Field(description="The client's id of the request")
    at: datetime
    prompt: str = Field(max_length=MAX_PROMPT_CHARS)
    completion: str = Field(default="", max_length=MAX_PROMPT_CHARS)


class PromptsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PromptItem] = Field(min_length=1, max_length=MAX_PROMPTS_PER_CALL)


class Accepted(BaseModel):
    accepted: int


# ---- fleet-scan schedules --------------------------------------------------------------------------


class ScheduleCreate(ScanScheduleSpec):
    model_config = ConfigDict(extra="forbid")


class SchedulePauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000, description="Why; shown as the schedule's pause note")
