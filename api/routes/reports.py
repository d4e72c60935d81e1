"""Reports for finance and operators: savings of executed changes, SLO attainment, inference cost.

Each covers whole UTC days [since, until) (until excluded; by default the 30 days up to and including
today) for the workloads of one customer, or one workload; a customer's principal sees its own customer's
only. What each figure is made from is in the report's `basis`; what could not be measured is null, with a
note."""

import re
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from api.deps import MetricsDep, SessionsDep, SettingsDep, Viewer, scoped_customer
from api.errors import NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER
from optiinfra.reports import assemble
from optiinfra.reports.days import MAX_DAYS, DayRange, DayRangeError
from optiinfra.reports.inference_cost import InferenceCostReport
from optiinfra.reports.readers import ReportScopeError
from optiinfra.reports.savings import SavingsReport
from optiinfra.reports.slo import SloReport

MAX_SLO_DAYS = 92
"""SLO attainment is judged on raw collection windows, which the store keeps `metrics_retention_days`
(90 by default): a longer span would read mostly nothing, slowly."""

router = APIRouter(prefix="/reports", tags=["reports"], route_class=StrictJSONRoute)


ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    """Query strings are text: a bare number must not pass as a Unix time, as pydantic would let it."""
    if not isinstance(value, str | date) or (isinstance(value, str) and not ISO_DAY.match(value)):
        raise ValueError("give an ISO 8601 date, e.g. 2026-12-01")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_day)]
SinceQuery = Annotated[IsoDate | None, Query(description="First UTC day (default: 30 days before until)")]
UntilQuery = Annotated[IsoDate | None, Query(description="UTC day after the last one (default: tomorrow)")]
CustomerQuery = Annotated[str | None, Query(pattern=IDENTIFIER)]
WorkloadQuery = Annotated[str | None, Query(pattern=IDENTIFIER)]


def _days(since: date | None, until: date | None, max_days: int) -> DayRange:
    """422 in the shape of every other validation error, naming the parameter at fault."""
    try:
        return DayRange.of(since, until, today=datetime.now(UTC).date(), max_days=max_days)
    except DayRangeError as error:
        given = since if error.parameter == "since" else until
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", error.parameter),
                    "msg": str(error),
                    "input": str(given),
                }
            ]
        ) from error


def _not_found(error: ReportScopeError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error))


@router.get("/savings", responses=NOT_FOUND)
async def savings_report(
    sessions: SessionsDep,
    metrics: MetricsDep,
    principal: Viewer,
    since: SinceQuery = None,
    until: UntilQuery = None,
    customer_id: CustomerQuery = None,
    workload_id: WorkloadQuery = None,
) -> SavingsReport:
    """Per workload and day: estimated savings of the executed changes in effect, realized savings
    measured from the workload's cost after each change against before it, cost and GPU-hours; and each
    change with its before and after windows. At most 366 days."""
    days = _days(since, until, MAX_DAYS)
    try:
        return await assemble.savings(
            sessions,
            metrics,
            days,
            customer_id=scoped_customer(principal, customer_id),
            workload_id=workload_id,
            now=datetime.now(UTC),
        )
    except ReportScopeError as error:
        raise _not_found(error) from error


@router.get("/slo", responses=NOT_FOUND)
async def slo_report(
    sessions: SessionsDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    principal: Viewer,
    since: SinceQuery = None,
    until: UntilQuery = None,
    customer_id: CustomerQuery = None,
    workload_id: WorkloadQuery = None,
) -> SloReport:
    """Per workload and day: the share of collection windows that met the workload's latency objectives,
    and each breach (adjacent windows that missed) with its start and end. At most 92 days."""
    days = _days(since, until, MAX_SLO_DAYS)
    try:
        return await assemble.slo(
            sessions,
            metrics,
            days,
            customer_id=scoped_customer(principal, customer_id),
            workload_id=workload_id,
            window_seconds=settings.metrics_interval_seconds,
        )
    except ReportScopeError as error:
        raise _not_found(error) from error


@router.get("/inference-cost", responses=NOT_FOUND)
async def inference_cost_report(
    sessions: SessionsDep,
    metrics: MetricsDep,
    principal: Viewer,
    since: SinceQuery = None,
    until: UntilQuery = None,
    customer_id: CustomerQuery = None,
    workload_id: WorkloadQuery = None,
) -> InferenceCostReport:
    """Per workload and model over the days: $ per 1M tokens (blended, input, output), idle GPU cost and
    GPU-hours, as OpenCost's inference-cost API reports them. The per-token figures divide the cost of the
    hours in which tokens were counted by those tokens (`token_covered_cost_usd`, `token_coverage`); the
    total cost and idle figures cover every hour with a cost record. At most 366 days."""
    days = _days(since, until, MAX_DAYS)
    try:
        return await assemble.inference_costs(
            sessions,
            metrics,
            days,
            customer_id=scoped_customer(principal, customer_id),
            workload_id=workload_id,
            now=datetime.now(UTC),
        )
    except ReportScopeError as error:
        raise _not_found(error) from error
