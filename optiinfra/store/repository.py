"""Reads and writes of the store, in domain models (ORM rows never leave this module).

Every function takes the caller's `AsyncSession` and never commits: the caller owns the transaction,
typically `async with session_factory(engine).begin() as session: ...`. Writes that an activity may
repeat after a retry are idempotent, so a retried activity never duplicates or corrupts state."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import Select, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.enums import AgentKind, OperatingMode, RecommendationStatus, RiskLevel
from optiinfra.domain.fleet import AutomationPolicy, Customer, GpuBudget, Workload
from optiinfra.domain.recommendation import Approval, Outcome, Recommendation, StepResult
from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage, RecordedLlmUsage
from optiinfra.store.tables import (
    AuditRow,
    Base,
    CustomerRow,
    ExecutionRow,
    LlmUsageRow,
    RecommendationRow,
    WorkflowRunRow,
    WorkloadRow,
    utc_now,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
SelectT = TypeVar("SelectT", bound=Select[Any])
RowT = TypeVar("RowT", bound=Base)

# Each failed attempt means another allocator committed a number first, so this bounds contention.
MAX_RUN_ALLOCATION_ATTEMPTS = 20


class AuditEntry(BaseModel):
    """One line of the audit log: who did what to which subject, for which customer, and the subject's
    state before and after when the write replaced one."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    customer_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditFilter(BaseModel):
    customer_id: str | None = None
    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class RecommendationRecord(BaseModel):
    """A recommendation together with what happened to it, as the API shows it."""

    recommendation: Recommendation
    status_reason: str | None = None
    approval: Approval | None = None
    outcome: Outcome | None = None
    updated_at: datetime


# Customers and workloads


async def upsert_customer(*, session: AsyncSession, customer: Customer) -> Customer:
    values = {
        "customer_id": customer.customer_id,
        "name": customer.name,
        "operating_mode": customer.automation.operating_mode.value,
        "auto_execute_min_confidence": customer.automation.auto_execute_min_confidence,
        "auto_execute_max_risk": customer.automation.auto_execute_max_risk.value,
        "budget_max_gpus": customer.budget.max_gpus,
        "budget_max_monthly_usd": customer.budget.max_monthly_usd,
    }
    await session.execute(upsert_statement(session, CustomerRow, values, key=("customer_id",)))
    return customer


async def get_customer(*, session: AsyncSession, customer_id: str) -> Customer | None:
    row = await session.get(CustomerRow, customer_id, populate_existing=True)
    return None if row is None else _customer_from_row(row)


async def list_customers(*, session: AsyncSession) -> list[Customer]:
    rows = await session.scalars(_fresh(select(CustomerRow).order_by(CustomerRow.customer_id)))
    return [_customer_from_row(row) for row in rows]


async def page_customers(
    *, session: AsyncSession, customer_id: str | None, limit: int, offset: int
) -> tuple[list[Customer], int]:
    """By id; `customer_id` narrows the page to that one customer (a tenant's view)."""
    query = select(CustomerRow).order_by(CustomerRow.customer_id)
    if customer_id is not None:
        query = query.where(CustomerRow.customer_id == customer_id)
    rows, total = await page(session, query, limit=limit, offset=offset)
    return [_customer_from_row(row) for row in rows], total


async def upsert_workload(*, session: AsyncSession, workload: Workload) -> Workload:
    """The customer must exist already (foreign key)."""
    values = _column_values(workload)
    await session.execute(upsert_statement(session, WorkloadRow, values, key=("customer_id", "workload_id")))
    return workload


async def get_workload(*, session: AsyncSession, customer_id: str, workload_id: str) -> Workload | None:
    row = await session.get(WorkloadRow, (customer_id, workload_id), populate_existing=True)
    return None if row is None else _from_row(Workload, row)


async def list_workloads(*, session: AsyncSession, customer_id: str | None = None) -> list[Workload]:
    return [_from_row(Workload, row) for row in await session.scalars(_fresh(_workloads_query(customer_id)))]


async def page_workloads(
    *, session: AsyncSession, customer_id: str | None, limit: int, offset: int
) -> tuple[list[Workload], int]:
    rows, total = await page(session, _workloads_query(customer_id), limit=limit, offset=offset)
    return [_from_row(Workload, row) for row in rows], total


def _workloads_query(customer_id: str | None) -> Select[WorkloadRow]:
    query = select(WorkloadRow).order_by(WorkloadRow.customer_id, WorkloadRow.workload_id)
    if customer_id is not None:
        query = query.where(WorkloadRow.customer_id == customer_id)
    return query


# Workflow runs


async def allocate_run(
    *,
    session: AsyncSession,
    customer_id: str,
    workload_id: str,
    agent: AgentKind | str,
    workflow_id_prefix: str,
) -> tuple[int, str]:
    """Reserve the next run number of an agent (or `joint` for joint optimizations) on a workload;
    returns it with its workflow id, `f"{workflow_id_prefix}/{run_number}"`.

    Concurrent allocators may read the same maximum; the unique key lets only one insert win, and
    the others retry inside a savepoint so the caller's transaction survives."""
    for _ in range(MAX_RUN_ALLOCATION_ATTEMPTS):
        run_number = await _next_run_number(session, customer_id, workload_id, agent)
        workflow_id = f"{workflow_id_prefix}/{run_number}"
        row = {
            "workflow_id": workflow_id,
            "customer_id": customer_id,
            "workload_id": workload_id,
            "agent": str(agent),
            "run_number": run_number,
        }
        try:
            async with session.begin_nested():
                await session.execute(insert(WorkflowRunRow).values(row))
        except IntegrityError:
            continue
        return run_number, workflow_id
    raise RuntimeError(
        f"could not allocate a run for {customer_id}/{workload_id}/{agent} "
        f"after {MAX_RUN_ALLOCATION_ATTEMPTS} attempts"
    )


async def _next_run_number(
    session: AsyncSession, customer_id: str, workload_id: str, agent: AgentKind | str
) -> int:
    query = select(func.coalesce(func.max(WorkflowRunRow.run_number), 0) + 1).where(
        WorkflowRunRow.customer_id == customer_id,
        WorkflowRunRow.workload_id == workload_id,
        WorkflowRunRow.agent == str(agent),
    )
    return int((await session.execute(query)).scalar_one())


# Recommendations


async def save_recommendation(*, session: AsyncSession, recommendation: Recommendation) -> Recommendation:
    """Insert, or overwrite the stored copy with the same id (a retried activity saves it again).

    Raises ValueError when that would move a recommendation out of a final status."""
    stored = await _locked_recommendation_row(session, recommendation.recommendation_id)
    if stored is not None:
        _check_status_change(stored, recommendation.status)
    values = _column_values(recommendation) | {"updated_at": utc_now()}
    await session.execute(upsert_statement(session, RecommendationRow, values, key=("recommendation_id",)))
    return recommendation


async def get_recommendation(*, session: AsyncSession, recommendation_id: str) -> Recommendation | None:
    row = await session.get(RecommendationRow, recommendation_id, populate_existing=True)
    return None if row is None else _from_row(Recommendation, row)


async def get_recommendation_by_workflow(*, session: AsyncSession, workflow_id: str) -> Recommendation | None:
    query = select(RecommendationRow).where(RecommendationRow.workflow_id == workflow_id)
    row = (await session.scalars(_fresh(query))).one_or_none()
    return None if row is None else _from_row(Recommendation, row)


async def get_recommendation_record(
    *, session: AsyncSession, recommendation_id: str
) -> RecommendationRecord | None:
    """The recommendation with its approval, outcome and the reason for its current status."""
    row = await session.get(RecommendationRow, recommendation_id, populate_existing=True)
    return None if row is None else _record_from_row(row)


async def get_outcome(*, session: AsyncSession, recommendation_id: str) -> Outcome | None:
    """How the recommendation ended; None while it runs, or if the id is unknown."""
    record = await get_recommendation_record(session=session, recommendation_id=recommendation_id)
    return None if record is None else record.outcome


async def list_recommendations(
    *,
    session: AsyncSession,
    status: RecommendationStatus | None = None,
    customer_id: str | None = None,
) -> list[Recommendation]:
    """Newest first."""
    query = _recommendations_query(status=status, customer_id=customer_id)
    return [_from_row(Recommendation, row) for row in await session.scalars(_fresh(query))]


async def page_recommendations(
    *,
    session: AsyncSession,
    status: RecommendationStatus | None,
    customer_id: str | None,
    workload_id: str | None,
    agent: AgentKind | None = None,
    risk_level: RiskLevel | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Recommendation], int]:
    """Newest first, narrowed by every filter given (None: any)."""
    query = _recommendations_query(
        status=status, customer_id=customer_id, workload_id=workload_id, agent=agent, risk_level=risk_level
    )
    rows, total = await page(session, query, limit=limit, offset=offset)
    return [_from_row(Recommendation, row) for row in rows], total


@dataclass(frozen=True)
class StatusByCustomer:
    customer_id: str
    count: int
    oldest_created_at: datetime


async def status_by_customer(
    *, session: AsyncSession, status: RecommendationStatus
) -> list[StatusByCustomer]:
    """Per customer with any recommendation in `status`: how many, and when the oldest was made."""
    query = (
        select(
            RecommendationRow.customer_id,
            func.count(),
            func.min(RecommendationRow.created_at),
        )
        .where(RecommendationRow.status == status.value)
        .group_by(RecommendationRow.customer_id)
        .order_by(RecommendationRow.customer_id)
    )
    return [
        StatusByCustomer(customer_id=customer, count=int(count), oldest_created_at=oldest)
        for customer, count, oldest in (await session.execute(query)).all()
    ]


def _recommendations_query(
    *,
    status: RecommendationStatus | None = None,
    customer_id: str | None = None,
    workload_id: str | None = None,
    agent: AgentKind | None = None,
    risk_level: RiskLevel | None = None,
) -> Select[RecommendationRow]:
    query = select(RecommendationRow).order_by(
        RecommendationRow.created_at.desc(), RecommendationRow.recommendation_id
    )
    if status is not None:
        query = query.where(RecommendationRow.status == status.value)
    if customer_id is not None:
        query = query.where(RecommendationRow.customer_id == customer_id)
    if workload_id is not None:
        query = query.where(RecommendationRow.workload_id == workload_id)
    if agent is not None:
        query = query.where(RecommendationRow.agent == agent.value)
    if risk_level is not None:
        query = query.where(RecommendationRow.risk_level == risk_level.value)
    return query


async def update_recommendation_status(
    *,
    session: AsyncSession,
    recommendation_id: str,
    status: RecommendationStatus,
    reason: str | None = None,
    approval: Approval | None = None,
    outcome: Outcome | None = None,
) -> Recommendation:
    """Move a recommendation to `status`, recording whichever of reason/approval/outcome is given.

    Raises LookupError for an unknown id and ValueError when leaving a final status; setting the
    status it already has is allowed, so a retried update is harmless."""
    row = await _locked_recommendation_row(session, recommendation_id)
    if row is None:
        raise LookupError(f"no recommendation {recommendation_id!r}")
    _check_status_change(row, status)
    row.status = status.value
    row.updated_at = utc_now()
    if reason is not None:
        row.status_reason = reason
    if approval is not None:
        row.approval = approval.model_dump(mode="json")
    if outcome is not None:
        row.outcome = outcome.model_dump(mode="json")
    await session.flush()
    return _from_row(Recommendation, row)


async def _locked_recommendation_row(
    session: AsyncSession, recommendation_id: str
) -> RecommendationRow | None:
    """Row-locked on PostgreSQL so two status changes cannot interleave (SQLite has one writer anyway)."""
    return await session.get(
        RecommendationRow, recommendation_id, populate_existing=True, with_for_update=True
    )


def _check_status_change(row: RecommendationRow, new_status: RecommendationStatus) -> None:
    current = RecommendationStatus(row.status)
    if current.is_final and new_status != current:
        raise ValueError(
            f"recommendation {row.recommendation_id!r} is already {current.value}; "
            f"it cannot become {new_status.value}"
        )


# Step results


async def record_step_result(
    *, session: AsyncSession, recommendation_id: str, workflow_id: str, result: StepResult
) -> bool:
    """Store one step result; True if it is new, False if the same (workflow, step, status) exists."""
    values = _column_values(result) | {"recommendation_id": recommendation_id, "workflow_id": workflow_id}
    statement = (
        dialect_insert(session, ExecutionRow)
        .values(values)
        .on_conflict_do_nothing(index_elements=["workflow_id", "step_id", "status"])
        .returning(ExecutionRow.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def list_step_results(*, session: AsyncSession, recommendation_id: str) -> list[StepResult]:
    """In the order they were recorded."""
    query = select(ExecutionRow).where(ExecutionRow.recommendation_id == recommendation_id)
    rows = await session.scalars(_fresh(query.order_by(ExecutionRow.id)))
    return [_from_row(StepResult, row) for row in rows]


# Audit log


async def append_audit(
    *,
    session: AsyncSession,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
    customer_id: str | None = None,
    before: BaseModel | Mapping[str, Any] | None = None,
    after: BaseModel | Mapping[str, Any] | None = None,
) -> AuditEntry:
    """`detail`, `before` and `after` may hold any pydantic-serialisable values (datetimes, enums, models)."""
    row = AuditRow(
        actor=actor,
        action=action,
        subject=subject,
        detail=to_jsonable_python(dict(detail)),
        customer_id=customer_id,
        before=None if before is None else to_jsonable_python(before),
        after=None if after is None else to_jsonable_python(after),
    )
    session.add(row)
    await session.flush()
    return _from_row(AuditEntry, row)


async def list_audit(*, session: AsyncSession, subject: str | None = None) -> list[AuditEntry]:
    """Oldest first."""
    query = select(AuditRow).order_by(AuditRow.id)
    if subject is not None:
        query = query.where(AuditRow.subject == subject)
    return [_from_row(AuditEntry, row) for row in await session.scalars(_fresh(query))]


async def page_audit(
    *, session: AsyncSession, where: AuditFilter, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """Newest first, with the number of lines the filter matches."""
    query = select(AuditRow)
    for column, value in (
        (AuditRow.customer_id, where.customer_id),
        (AuditRow.actor, where.actor),
        (AuditRow.action, where.action),
        (AuditRow.subject, where.subject),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditRow.at >= where.since)
    if where.until is not None:
        query = query.where(AuditRow.at < where.until)
    rows, total = await page(session, query.order_by(AuditRow.id.desc()), limit=limit, offset=offset)
    return [_from_row(AuditEntry, row) for row in rows], total


async def page(
    session: AsyncSession, query: Select[RowT], *, limit: int, offset: int
) -> tuple[list[RowT], int]:
    """One page of an ordered query's rows and how many rows the whole query has."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(await session.scalars(_fresh(query.limit(limit).offset(offset))))
    return rows, int(total or 0)


# Language-model usage


async def record_llm_usage(
    *,
    session: AsyncSession,
    workflow_id: str,
    customer_id: str,
    usage: LlmUsage,
    created_at: datetime | None = None,
) -> RecordedLlmUsage:
    """Append one usage record. Not deduplicated: a retried activity asked again, and its second answer
    (usually a free cache hit) is a usage of its own."""
    row = LlmUsageRow(
        workflow_id=workflow_id,
        customer_id=customer_id,
        task=usage.task,
        tier=usage.tier.value,
        model=usage.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        calls=usage.calls,
        repairs=usage.repairs,
        cached=usage.cached,
        fell_back=usage.fell_back_to_rules,
        reason=usage.reason,
        created_at=created_at or utc_now(),
    )
    session.add(row)
    await session.flush()
    return _usage_from_row(row)


async def list_llm_usage(
    *, session: AsyncSession, workflow_id: str | None = None, customer_id: str | None = None
) -> list[RecordedLlmUsage]:
    """Oldest first."""
    query = select(LlmUsageRow).order_by(LlmUsageRow.id)
    if workflow_id is not None:
        query = query.where(LlmUsageRow.workflow_id == workflow_id)
    if customer_id is not None:
        query = query.where(LlmUsageRow.customer_id == customer_id)
    return [_usage_from_row(row) for row in await session.scalars(_fresh(query))]


async def spent_today(*, session: AsyncSession, customer_id: str, now: datetime | None = None) -> float:
    """The customer's recorded language-model cost on the UTC day holding `now`: what the daily budget
    is held against."""
    day_start = (now or utc_now()).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    query = select(func.coalesce(func.sum(LlmUsageRow.cost_usd), 0.0)).where(
        LlmUsageRow.customer_id == customer_id,
        LlmUsageRow.created_at >= day_start,
        LlmUsageRow.created_at < day_start + timedelta(days=1),
    )
    return float((await session.execute(query)).scalar_one())


# Mapping between domain models and rows


def _column_values(model: BaseModel) -> dict[str, Any]:
    """Column values of a model whose fields are named like its columns: JSON-ready values, except
    top-level datetimes, which the timestamp columns take as datetime objects."""
    values: dict[str, Any] = model.model_dump(mode="json")
    values.update({name: value for name, value in model if isinstance(value, datetime)})
    return values


def _from_row(model: type[ModelT], row: Base) -> ModelT:
    return model.model_validate({name: getattr(row, name) for name in model.model_fields})


def _customer_from_row(row: CustomerRow) -> Customer:
    automation = AutomationPolicy(
        operating_mode=OperatingMode(row.operating_mode),
        auto_execute_min_confidence=row.auto_execute_min_confidence,
        auto_execute_max_risk=RiskLevel(row.auto_execute_max_risk),
    )
    budget = GpuBudget(max_gpus=row.budget_max_gpus, max_monthly_usd=row.budget_max_monthly_usd)
    return Customer(customer_id=row.customer_id, name=row.name, automation=automation, budget=budget)


def _usage_from_row(row: LlmUsageRow) -> RecordedLlmUsage:
    return RecordedLlmUsage(
        id=row.id,
        workflow_id=row.workflow_id,
        customer_id=row.customer_id,
        task=row.task,
        tier=InferenceTier(row.tier),
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        calls=row.calls,
        repairs=row.repairs,
        cached=row.cached,
        fell_back_to_rules=row.fell_back,
        reason=row.reason,
        created_at=row.created_at,
    )


def _record_from_row(row: RecommendationRow) -> RecommendationRecord:
    return RecommendationRecord(
        recommendation=_from_row(Recommendation, row),
        status_reason=row.status_reason,
        approval=None if row.approval is None else Approval.model_validate(row.approval),
        outcome=None if row.outcome is None else Outcome.model_validate(row.outcome),
        updated_at=row.updated_at,
    )


# Statements


def _fresh(query: SelectT) -> SelectT:
    """Reload rows even if the session holds them: upserts bypass the session's identity map."""
    return query.execution_options(populate_existing=True)


def dialect_insert(session: AsyncSession, entity: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support, which both backends spell the same way."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity)
    if dialect == "sqlite":
        return sqlite.insert(entity)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect}")


def upsert_statement(
    session: AsyncSession, entity: type[Base], values: dict[str, Any], *, key: Sequence[str]
) -> postgresql.Insert | sqlite.Insert:
    """Insert `values`, or on a key conflict overwrite every given non-key column (so columns left
    out, such as `created_at`, keep their first value)."""
    statement = dialect_insert(session, entity).values(values)
    changes = {name: statement.excluded[name] for name in values if name not in key}
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)
