"""Starting optimizations and sending people's decisions to the workflows that wait for them."""

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from optiinfra.domain.agent_requests import AgentRequest
from optiinfra.domain.enums import AgentKind, DecisionKind, RecommendationStatus
from optiinfra.domain.recommendation import Approval, Recommendation
from optiinfra.domain.regression import RegressionThresholds
from optiinfra.settings import Settings
from optiinfra.store import repository
from workflows import priorities
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import (
    DECISION_REFUSED,
    AgentRequestDelivery,
    ExecutionTiming,
    OptimizationRequest,
    WorkflowPhase,
)
from workflows.search_attributes import OPTI_AGENT, OPTI_CUSTOMER, OPTI_STATUS, OPTI_WORKLOAD


class UnknownWorkloadError(LookupError):
    pass


class RecommendationNotFoundError(LookupError):
    pass


class NotAwaitingDecisionError(RuntimeError):
    """The recommendation is not waiting for a person (already decided, expired, or executing)."""


class DecisionConflictError(NotAwaitingDecisionError):
    """The workflow refused this decision: another won (`winner`: who, what, when), or it waits for none."""

    def __init__(self, message: str, *, refusal: str, winner: Approval | None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.winner = winner


class DecisionUnconfirmedError(RuntimeError):
    """The workflow did not answer in time: the decision may or may not have been taken."""


MAX_START_ATTEMPTS = 50
"""Run numbers a start may skip over because the engine already has runs of them."""

DECISION_WAIT = timedelta(seconds=30)
"""How long `decide` waits for the workflow to take or refuse a decision (a worker must be running)."""


def regression_thresholds(settings: Settings) -> RegressionThresholds:
    return RegressionThresholds(
        max_p99_increase=settings.regression_p99_increase,
        max_error_rate_increase_points=settings.regression_error_rate_points,
        min_requests=settings.regression_min_requests,
    )


def timing_from(settings: Settings) -> ExecutionTiming:
    return ExecutionTiming(
        approval_timeout_seconds=settings.effective_approval_timeout_seconds,
        verify_delay_seconds=settings.effective_verify_delay_seconds,
        activity_timeout_seconds=settings.activity_timeout_seconds,
        activity_heartbeat_seconds=settings.activity_heartbeat_seconds,
        activity_max_attempts=settings.activity_max_attempts,
        regression_watch_seconds=settings.effective_regression_watch_seconds,
        regression_baseline_seconds=settings.regression_baseline_seconds,
        regression_thresholds=regression_thresholds(settings),
        lock_poll_seconds=settings.lock_poll_seconds,
        lock_wait_seconds=settings.lock_wait_seconds,
    )


def workflow_id_prefix(customer_id: str, workload_id: str, agent: AgentKind) -> str:
    return f"opt/{customer_id}/{workload_id}/{agent.value}"


async def start_optimization(
    *,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    customer_id: str,
    workload_id: str,
    agent: AgentKind,
) -> str:
    """Start an AgentOptimizationWorkflow with an id that reads like the work,
    e.g. `opt/demo/chat-8b/cost/3`, and return that id."""

    async def start(workflow_id: str) -> None:
        await client.start_workflow(
            AgentOptimizationWorkflow.run,
            OptimizationRequest(
                customer_id=customer_id, workload_id=workload_id, agent=agent, timing=timing_from(settings)
            ),
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            priority=priorities.interactive(customer_id),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(OPTI_CUSTOMER, customer_id),
                    SearchAttributePair(OPTI_WORKLOAD, workload_id),
                    SearchAttributePair(OPTI_AGENT, agent.value),
                    SearchAttributePair(OPTI_STATUS, WorkflowPhase.COLLECTING.value),
                ]
            ),
            static_summary=f"{agent.value} optimization of {customer_id}/{workload_id}",
        )

    return await start_numbered_run(
        sessions,
        customer_id=customer_id,
        workload_id=workload_id,
        agent=agent,
        prefix=workflow_id_prefix(customer_id, workload_id, agent),
        start=start,
    )


async def start_numbered_run(
    sessions: async_sessionmaker[AsyncSession],
    *,
    customer_id: str,
    workload_id: str,
    agent: AgentKind | str,
    prefix: str,
    start: Callable[[str], Awaitable[None]],
) -> str:
    """Take the workload's next run number and `start` the run under it. When the engine already has a run
    of that id (the store was restored from a backup or reset while the engine kept its runs), the number
    is spent and the next one taken, so a start never fails on a number the store forgot."""
    for _ in range(MAX_START_ATTEMPTS):
        async with sessions.begin() as session:
            if (
                await repository.get_workload(
                    session=session, customer_id=customer_id, workload_id=workload_id
                )
                is None
            ):
                raise UnknownWorkloadError(f"unknown workload {customer_id}/{workload_id}")
            _, workflow_id = await repository.allocate_run(
                session=session,
                customer_id=customer_id,
                workload_id=workload_id,
                agent=agent,
                workflow_id_prefix=prefix,
            )
        try:
            await start(workflow_id)
        except WorkflowAlreadyStartedError:
            continue
        return workflow_id
    raise RuntimeError(
        f"the engine already runs {MAX_START_ATTEMPTS} runs numbered past the store's for {prefix}"
    )


async def _execute_decide(handle: WorkflowHandle[Any, Any], approval: Approval) -> None:
    """The `decide` update, sent again while Temporal refuses it for having too many updates of the workflow
    in flight (10 by default: RESOURCE_EXHAUSTED). The validator answers each in milliseconds, so the rush
    passes; the caller's deadline bounds the tries."""
    delay = 0.05
    while True:
        try:
            await handle.execute_update(AgentOptimizationWorkflow.decide, approval)
            return
        except RPCError as error:
            if error.status is not RPCStatusCode.RESOURCE_EXHAUSTED:
                raise
        await asyncio.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 1.0)


async def decide(
    *,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    recommendation_id: str,
    decision: DecisionKind,
    approver: str,
    reason: str,
    note: str | None = None,
) -> Recommendation:
    """Decide for the person `approver` (the authenticated principal; `note` is a display note beside it),
    through the `decide` update of the workflow that waits on the recommendation. The workflow takes
    exactly one decision: this returns once it took this one, and raises DecisionConflictError, naming the
    decision that won, when it refused this one (another came first, it no longer waits, it has closed).

    The decision taken is audited once, by the workflow's own status change (`recommendation.approved` or
    `.rejected`, with `outcome: accepted`); a refused one is audited here (`recommendation.approve_refused`
    or `.reject_refused`, with `outcome: refused` and the refusal), as it leaves no trace in the workflow."""
    async with sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=recommendation_id
        )
    if record is None:
        raise RecommendationNotFoundError(f"no recommendation {recommendation_id}")
    recommendation = record.recommendation
    approval = Approval(decision=decision, approver=approver, reason=reason, note=note)
    handle = client.get_workflow_handle_for(AgentOptimizationWorkflow.run, recommendation.workflow_id)
    try:
        async with asyncio.timeout(DECISION_WAIT.total_seconds()):
            # Returns once the workflow took the decision: a refusal raises, and no refused decision
            # ever reaches the workflow's state.
            await _execute_decide(handle, approval)
    except WorkflowUpdateFailedError as error:
        refusal, winner = _refusal_of(error)
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        # Closed (or gone): the store says how the recommendation ended.
        async with sessions() as session:
            record = await repository.get_recommendation_record(
                session=session, recommendation_id=recommendation_id
            )
        assert record is not None
        winner = record.approval
        refusal = _closed_refusal(record.recommendation.status, winner)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # our caller was cancelled: not our timeout
        await _audit_attempt(sessions, recommendation, approval, "unconfirmed", f"no answer: {error!r}")
        raise DecisionUnconfirmedError(
            f"the workflow {recommendation.workflow_id} did not answer within {DECISION_WAIT} (is a worker "
            f"running?); the {decision.value} may still be taken: read recommendation {recommendation_id}"
        ) from error
    else:
        return recommendation
    await _audit_attempt(sessions, recommendation, approval, "refused", refusal)
    raise DecisionConflictError(
        f"recommendation {recommendation_id}: {approver}'s {decision.value} was refused: {refusal}",
        refusal=refusal,
        winner=winner,
    )


def _closed_refusal(status: RecommendationStatus, winner: Approval | None) -> str:
    if status is RecommendationStatus.PENDING_APPROVAL:  # e.g. the run was terminated while it waited
        refusal = "its workflow has closed without a decision"
    else:
        refusal = f"its workflow has closed: it is {status.value}, not pending_approval"
    return refusal if winner is None else f"{refusal}; already {winner.described()}"


def _refusal_of(error: WorkflowUpdateFailedError) -> tuple[str, Approval | None]:
    """The workflow's refusal of a `decide` update, and the decision that won, if one did."""
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type != DECISION_REFUSED:
        return f"the update failed: {cause}", None
    winner = Approval.model_validate(cause.details[0]) if cause.details else None
    return cause.message, winner


async def _audit_attempt(
    sessions: async_sessionmaker[AsyncSession],
    recommendation: Recommendation,
    approval: Approval,
    outcome: str,
    why: str,
) -> None:
    """The audit row of a decision the workflow did not take (the one it took, it audits itself)."""
    async with sessions.begin() as session:
        await repository.append_audit(
            session=session,
            actor=approval.approver,
            action=f"recommendation.{approval.decision.value}_{outcome}",
            subject=recommendation.recommendation_id,
            customer_id=recommendation.customer_id,
            detail={
                "outcome": outcome,
                "why": why,
                "reason": approval.reason,
                "note": approval.note,
                "workflow_id": recommendation.workflow_id,
            },
        )


def requested_workflow_id(customer_id: str, workload_id: str, request: AgentRequest) -> str:
    """One addressee run per asking run, e.g. `opt/demo/chat-8b/application/asked-by/resource/3/9c1e5f0c2a1e`
    (the asker's workflow id, then the last group of its run id, as workflow ids can be reused; the first
    groups of Temporal's time-ordered run ids repeat within a minute), so a retried delivery finds the run
    it already started."""
    prefix = workflow_id_prefix(customer_id, workload_id, request.to_agent)
    asker = request.source_workflow_id.removeprefix(f"opt/{customer_id}/{workload_id}/")
    run = f"/{request.source_run_id.rsplit('-', 1)[-1]}" if request.source_run_id else ""
    return f"{prefix}/asked-by/{asker}{run}"


async def deliver_agent_request(*, client: Client, task_queue: str, delivery: AgentRequestDelivery) -> str:
    """Signal-with-start the addressee's optimization: a run already going gets the signal; otherwise a
    new one starts with the request delivered before its first step. Returns the run's workflow id."""
    request = delivery.request
    workflow_id = requested_workflow_id(delivery.customer_id, delivery.workload_id, request)
    # A run that already finished answered this request: a retried delivery must not start another.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            AgentOptimizationWorkflow.run,
            OptimizationRequest(
                customer_id=delivery.customer_id,
                workload_id=delivery.workload_id,
                agent=request.to_agent,
                timing=delivery.timing,
            ),
            id=workflow_id,
            task_queue=task_queue,
            start_signal="agent_request",
            start_signal_args=[request],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(OPTI_CUSTOMER, delivery.customer_id),
                    SearchAttributePair(OPTI_WORKLOAD, delivery.workload_id),
                    SearchAttributePair(OPTI_AGENT, request.to_agent.value),
                    SearchAttributePair(OPTI_STATUS, WorkflowPhase.COLLECTING.value),
                ]
            ),
            static_summary=(
                f"{request.to_agent.value} optimization of {delivery.customer_id}/{delivery.workload_id}, "
                f"asked by the {request.from_agent.value} agent ({request.kind.value})"
            ),
        )
    return workflow_id
