"""Store activities: the workflow's only way to read and write the relational store."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import current_workflow_id
from optiinfra.domain.recommendation import Outcome, Recommendation
from optiinfra.store import repository
from optiinfra.store.locks import acquire_workload_lock, release_workload_lock
from optiinfra.store.scan_pages import scan_page
from workflows.contracts import (
    ActivityName,
    LockAnswer,
    ScanItem,
    ScanPage,
    ScanPageRequest,
    StatusChange,
    StepRecord,
    WorkloadContext,
    WorkloadList,
    WorkloadLock,
    WorkloadRef,
)


def status_change_detail(change: StatusChange) -> dict[str, object]:
    """The audit detail of a status change. A person's decision is audited here, once, as the change it
    made (`recommendation.approved` or `.rejected`, its approver the actor); the attempts the workflow
    refused are audited by whoever sent them (`recommendation.approve_refused`, ...)."""
    detail: dict[str, object] = {"reason": change.reason or ""}
    if change.approval is not None:
        detail.update(
            outcome="accepted",
            decision=change.approval.decision.value,
            decided_at=change.approval.decided_at,
            note=change.approval.note,
            workflow_id=activity.info().workflow_id,
        )
    return detail


class StoreActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=ActivityName.LOAD_WORKLOAD)
    async def load_workload(self, ref: WorkloadRef) -> WorkloadContext:
        async with self._sessions() as session:
            customer = await repository.get_customer(session=session, customer_id=ref.customer_id)
            workload = await repository.get_workload(
                session=session, customer_id=ref.customer_id, workload_id=ref.workload_id
            )
        if customer is None or workload is None:
            raise ApplicationError(
                f"unknown workload {ref.customer_id}/{ref.workload_id}",
                type="UnknownWorkload",
                non_retryable=True,
            )
        return WorkloadContext(customer=customer, workload=workload)

    @activity.defn(name=ActivityName.ACQUIRE_WORKLOAD_LOCK)
    async def acquire_workload_lock(self, lock: WorkloadLock) -> LockAnswer:
        async with self._sessions.begin() as session:
            held = await acquire_workload_lock(
                session=session,
                customer_id=lock.customer_id,
                workload_id=lock.workload_id,
                holder=lock.holder,
                lease=timedelta(seconds=lock.lease_seconds),
            )
        if held is None:
            return LockAnswer()
        return LockAnswer(held_by=held.holder, held_until=held.lease_until)

    @activity.defn(name=ActivityName.RELEASE_WORKLOAD_LOCK)
    async def release_workload_lock(self, lock: WorkloadLock) -> None:
        async with self._sessions.begin() as session:
            await release_workload_lock(
                session=session,
                customer_id=lock.customer_id,
                workload_id=lock.workload_id,
                holder=lock.holder,
            )

    @activity.defn(name=ActivityName.LIST_WORKLOADS)
    async def list_workloads(self) -> WorkloadList:
        async with self._sessions() as session:
            return WorkloadList(workloads=await repository.list_workloads(session=session))

    @activity.defn(name=ActivityName.LIST_SCAN_PAGE)
    async def list_scan_page(self, request: ScanPageRequest) -> ScanPage:
        async with self._sessions() as session:
            entries = await scan_page(
                session=session,
                customer_id=request.customer_id,
                after=request.after,
                limit=request.limit,
                now=datetime.now(UTC),
            )
        items = [
            ScanItem(customer_id=e.customer_id, workload_id=e.workload_id, in_flight=e.in_flight)
            for e in entries
        ]
        after = (items[-1].customer_id, items[-1].workload_id) if len(items) == request.limit else None
        return ScanPage(items=items, after=after)

    @activity.defn(name=ActivityName.PERSIST_RECOMMENDATION)
    async def persist_recommendation(self, recommendation: Recommendation) -> None:
        async with self._sessions.begin() as session:
            await repository.save_recommendation(session=session, recommendation=recommendation)
            await repository.append_audit(
                session=session,
                actor=f"workflow:{recommendation.workflow_id}",
                action="recommendation.created",
                subject=recommendation.recommendation_id,
                customer_id=recommendation.customer_id,
                detail={
                    "type": recommendation.type.value,
                    "estimated_monthly_savings_usd": recommendation.estimated_monthly_savings_usd,
                },
            )

    @activity.defn(name=ActivityName.CHANGE_STATUS)
    async def change_recommendation_status(self, change: StatusChange) -> None:
        async with self._sessions.begin() as session:
            changed = await repository.update_recommendation_status(
                session=session,
                recommendation_id=change.recommendation_id,
                status=change.status,
                reason=change.reason,
                approval=change.approval,
            )
            await repository.append_audit(
                session=session,
                actor=change.actor,
                action=f"recommendation.{change.status.value}",
                subject=change.recommendation_id,
                customer_id=changed.customer_id,
                detail=status_change_detail(change),
            )

    @activity.defn(name=ActivityName.RECORD_STEP)
    async def record_step_result(self, record: StepRecord) -> None:
        workflow_id = current_workflow_id()
        async with self._sessions.begin() as session:
            first_time = await repository.record_step_result(
                session=session,
                recommendation_id=record.recommendation_id,
                workflow_id=workflow_id,
                result=record.result,
            )
            if not first_time:
                return  # a retry of an activity whose first attempt committed: audit once
            await repository.append_audit(
                session=session,
                actor=f"workflow:{workflow_id}",
                action=f"step.{record.result.action.value}.{record.result.status.value}",
                subject=record.result.target,
                customer_id=await _customer_of(session, record.recommendation_id),
                detail={"step_id": record.result.step_id, "detail": record.result.detail},
            )

    @activity.defn(name=ActivityName.RECORD_OUTCOME)
    async def record_outcome(self, outcome: Outcome) -> None:
        async with self._sessions.begin() as session:
            await repository.update_recommendation_status(
                session=session,
                recommendation_id=outcome.recommendation_id,
                status=outcome.status,
                reason=outcome.failure_reason,
                outcome=outcome,
            )


async def _customer_of(session: AsyncSession, recommendation_id: str) -> str | None:
    """The customer an audit line about this recommendation's steps belongs to."""
    found = await repository.get_recommendation(session=session, recommendation_id=recommendation_id)
    return None if found is None else found.customer_id
