"""Our changes to a workload as regression defense reads them: the latest executed one, an executed one with
its step results (to undo it), and the end of a rollback on it.

Like `repository`, every function takes the caller's `AsyncSession` and never commits."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.recommendation import Outcome, Recommendation, StepResult
from optiinfra.store import repository
from optiinfra.store.tables import AuditRow, ExecutionRow, RecommendationRow, utc_now

ROLLBACK_END_STATUSES = frozenset({RecommendationStatus.ROLLED_BACK, RecommendationStatus.FAILED})
ROLLBACK_REFUSED = "recommendation.rollback_refused"


async def latest_executed_change(
    *, session: AsyncSession, customer_id: str, workload_id: str, since: datetime
) -> Recommendation | None:
    """The workload's executed recommendation whose last recorded step finished at or after `since`, the
    most recently finished first; None when there is none (advice, which has no steps, never counts)."""
    last_step = (
        select(
            ExecutionRow.recommendation_id.label("recommendation_id"),
            func.max(ExecutionRow.finished_at).label("last_finished_at"),
        )
        .group_by(ExecutionRow.recommendation_id)
        .subquery()
    )
    query = (
        select(RecommendationRow)
        .join(last_step, last_step.c.recommendation_id == RecommendationRow.recommendation_id)
        .where(
            RecommendationRow.customer_id == customer_id,
            RecommendationRow.workload_id == workload_id,
            RecommendationRow.status == RecommendationStatus.EXECUTED.value,
            last_step.c.last_finished_at >= since,
        )
        .order_by(last_step.c.last_finished_at.desc(), RecommendationRow.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    row = (await session.scalars(query)).one_or_none()
    return None if row is None else Recommendation.model_validate(_columns(row))


async def change_with_results(
    *, session: AsyncSession, recommendation_id: str
) -> tuple[Recommendation, list[StepResult]] | None:
    """The recommendation and its step results in the order they were recorded; None for an unknown id."""
    recommendation = await repository.get_recommendation(session=session, recommendation_id=recommendation_id)
    if recommendation is None:
        return None
    results = await repository.list_step_results(session=session, recommendation_id=recommendation_id)
    return recommendation, results


async def end_rollback(
    *,
    session: AsyncSession,
    recommendation_id: str,
    status: RecommendationStatus,
    reason: str,
    actor: str,
) -> bool:
    """Move an executed recommendation to `status` (rolled_back, or failed when a compensation failed):
    the one way out of `executed`, which the repository keeps final. Its recorded outcome follows (no
    savings). True when it changed; False when it already had that status (a retried activity).

    Raises LookupError for an unknown id and ValueError from any status but executed."""
    if status not in ROLLBACK_END_STATUSES:
        raise ValueError(f"a rollback ends rolled_back or failed, not {status.value}")
    row = await session.get(
        RecommendationRow, recommendation_id, populate_existing=True, with_for_update=True
    )
    if row is None:
        raise LookupError(f"no recommendation {recommendation_id!r}")
    current = RecommendationStatus(row.status)
    if current is status:
        return False
    if current is not RecommendationStatus.EXECUTED:
        raise ValueError(
            f"recommendation {recommendation_id!r} is {current.value}; only an executed one is rolled back"
        )
    now = utc_now()
    row.status = status.value
    row.status_reason = reason
    row.updated_at = now
    if row.outcome is not None:
        outcome = Outcome.model_validate(row.outcome).model_copy(
            update={
                "status": status,
                "failure_reason": reason,
                "estimated_monthly_savings_usd": 0.0,
                "finished_at": now,
            }
        )
        row.outcome = outcome.model_dump(mode="json")
    await session.flush()
    await repository.append_audit(
        session=session,
        actor=actor,
        action=f"recommendation.{status.value}",
        subject=recommendation_id,
        customer_id=row.customer_id,
        detail={"reason": reason, "rolled_back_from": current.value},
    )
    return True


async def record_rollback_refused(
    *, session: AsyncSession, recommendation_id: str, reason: str, actor: str
) -> None:
    """The audit line of a rollback that did not run (once per actor and reason, so a retried activity
    writes it once); the recommendation itself is left as it is."""
    query = select(AuditRow).where(
        AuditRow.subject == recommendation_id, AuditRow.actor == actor, AuditRow.action == ROLLBACK_REFUSED
    )
    if any(entry.detail.get("reason") == reason for entry in await session.scalars(query)):
        return
    found = await repository.get_recommendation(session=session, recommendation_id=recommendation_id)
    await repository.append_audit(
        session=session,
        actor=actor,
        action=ROLLBACK_REFUSED,
        subject=recommendation_id,
        customer_id=None if found is None else found.customer_id,
        detail={"reason": reason},
    )


def _columns(row: RecommendationRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in Recommendation.model_fields}
