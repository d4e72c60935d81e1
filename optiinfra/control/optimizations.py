"""Starting optimizations and sending people's decisions to the workflows that wait for them."""

import contextlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from optiinfra.domain.agent_requests import AgentRequest
from optiinfra.domain.enums import AgentKind, DecisionKind, RecommendationStatus
from optiinfra.domain.recommendation import Approval, Recommendation
from optiinfra.domain.regression import RegressionThresholds
from optiinfra.settings import Settings
from optiinfra.store import repository
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import AgentRequestDelivery, ExecutionTiming, OptimizationRequest, WorkflowPhase
from workflows.search_attributes import OPTI_AGENT, OPTI_CUSTOMER, OPTI_STATUS, OPTI_WORKLOAD


class UnknownWorkloadError(LookupError):
    pass


class RecommendationNotFoundError(LookupError):
    pass


class NotAwaitingDecisionError(RuntimeError):
    """The recommendation is not waiting for a person (already decided, expired, or executing)."""


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
    async with sessions.begin() as session:
        if (
            await repository.get_workload(session=session, customer_id=customer_id, workload_id=workload_id)
            is None
        ):
            raise UnknownWorkloadError(f"unknown workload {customer_id}/{workload_id}")
        _, workflow_id = await repository.allocate_run(
            session=session,
            customer_id=customer_id,
            workload_id=workload_id,
            agent=agent,
            workflow_id_prefix=workflow_id_prefix(customer_id, workload_id, agent),
        )
    await client.start_workflow(
        AgentOptimizationWorkflow.run,
        OptimizationRequest(
            customer_id=customer_id, workload_id=workload_id, agent=agent, timing=timing_from(settings)
        ),
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
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
    return workflow_id


async def decide(
    *,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    recommendation_id: str,
    decision: DecisionKind,
    approver: str,
    reason: str,
) -> Recommendation:
    """Send the approve or reject signal to the workflow that waits on this recommendation."""
    async with sessions() as session:
        recommendation = await repository.get_recommendation(
            session=session, recommendation_id=recommendation_id
        )
    if recommendation is None:
        raise RecommendationNotFoundError(f"no recommendation {recommendation_id}")
    if recommendation.status is not RecommendationStatus.PENDING_APPROVAL:
        raise NotAwaitingDecisionError(
            f"recommendation {recommendation_id} is {recommendation.status.value}, not pending_approval"
        )
    approval = Approval(decision=decision, approver=approver, reason=reason)
    handle = client.get_workflow_handle_for(AgentOptimizationWorkflow.run, recommendation.workflow_id)
    signal = (
        AgentOptimizationWorkflow.approve
        if decision is DecisionKind.APPROVE
        else AgentOptimizationWorkflow.reject
    )
    try:
        await handle.signal(signal, approval)
    except RPCError as error:
        # The workflow closed between our read and the signal (e.g. it just expired).
        raise NotAwaitingDecisionError(
            f"workflow {recommendation.workflow_id} no longer waits: {error}"
        ) from error
    async with sessions.begin() as session:
        await repository.append_audit(
            session=session,
            actor=approver,
            action=f"recommendation.{decision.value}_requested",
            subject=recommendation_id,
            detail={"reason": reason, "workflow_id": recommendation.workflow_id},
        )
    return recommendation


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
