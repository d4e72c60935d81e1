"""RegressionWatchWorkflow: one pass of regression defense over every registered workload, started by the
`optiinfra/regression-watch` Schedule (every OPTIINFRA_REGRESSION_WATCH_INTERVAL_SECONDS).

For each workload: its serving over the last `current_seconds` is judged by the rules against the
`baseline_seconds` before; a regression is explained (the language-model layer is asked only for
regressions the rules confirmed), and when our own change to the workload finished within
`attribution_seconds` it is rolled back by a child RollbackWorkflow `rollback/<recommendation_id>`, which
this pass waits for. A workload that fails is reported in the summary; the others go on."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.fleet import Workload
    from optiinfra.domain.regression import RegressionVerdict, RootCauseNote, ServingHealth
    from workflows import own_metrics
    from workflows.activity_calls import call_activity
    from workflows.contracts import (
        ActivityName,
        HealthRequest,
        OptimizationStatus,
        RecentChange,
        RecentChangeQuery,
        RegressionCheck,
        RegressionWatchRequest,
        RegressionWatchSummary,
        RollbackRequest,
        RootCauseRequest,
        WorkflowPhase,
        WorkloadList,
        WorkloadRegression,
    )
    from workflows.rollback import RollbackWorkflow, rollback_workflow_id
    from workflows.search_attributes import OPTI_CUSTOMER, OPTI_WORKLOAD

REGRESSION_WATCH_SCHEDULE_ID = "optiinfra/regression-watch"
REGRESSION_WATCH_WORKFLOW_ID = "regression/watch"
"""The id the Schedule starts each pass with (the server appends the tick's time)."""


class _WorkloadOutcome:
    """What one workload's pass found: a regression to report, and what went wrong along the way."""

    def __init__(
        self, regression: WorkloadRegression | None = None, problems: list[str] | None = None
    ) -> None:
        self.regression = regression
        self.problems = problems or []


@workflow.defn
class RegressionWatchWorkflow:
    @workflow.run
    async def run(self, request: RegressionWatchRequest) -> RegressionWatchSummary:
        own_metrics.scheduled_run_started()
        listed: WorkloadList = await self._activity(request, ActivityName.LIST_WORKLOADS, None, WorkloadList)
        now = workflow.now()
        outcomes = await asyncio.gather(
            *(self._watch(request, workload, now) for workload in listed.workloads), return_exceptions=True
        )
        summary = RegressionWatchSummary(workloads=len(listed.workloads))
        for workload, outcome in zip(listed.workloads, outcomes, strict=True):
            name = f"{workload.customer_id}/{workload.workload_id}"
            if isinstance(outcome, FailureError):
                summary.failures.append(f"{name}: {_reason(outcome)}")
                continue
            if isinstance(outcome, BaseException):
                raise outcome  # a bug, not a failed call: fail the workflow task so it is seen and retried
            if outcome.regression is not None:
                summary.regressions.append(outcome.regression)
            summary.failures += [f"{name}: {problem}" for problem in outcome.problems]
        workflow.set_current_details(
            f"{summary.workloads} workloads, {len(summary.regressions)} regressed, "
            f"{sum(r.rolled_back_by is not None for r in summary.regressions)} rolled back, "
            f"{len(summary.failures)} failures"
        )
        return summary

    async def _watch(
        self, request: RegressionWatchRequest, workload: Workload, now: datetime
    ) -> _WorkloadOutcome:
        customer_id, workload_id = workload.customer_id, workload.workload_id
        current_start = now - timedelta(seconds=request.current_seconds)
        baseline: ServingHealth = await self._activity(
            request,
            ActivityName.MEASURE_SERVING_HEALTH,
            HealthRequest(
                customer_id=customer_id,
                workload_id=workload_id,
                since=current_start - timedelta(seconds=request.baseline_seconds),
                until=current_start,
            ),
            ServingHealth,
            summary=f"baseline of {customer_id}/{workload_id}",
        )
        verdict: RegressionVerdict = await self._activity(
            request,
            ActivityName.CHECK_REGRESSION,
            RegressionCheck(baseline=baseline, since=current_start, until=now, thresholds=request.thresholds),
            RegressionVerdict,
            summary=f"judge {customer_id}/{workload_id}",
        )
        if not verdict.regressed:
            return _WorkloadOutcome()
        regression = WorkloadRegression(customer_id=customer_id, workload_id=workload_id, verdict=verdict)
        outcome = _WorkloadOutcome(regression)
        try:
            recent: RecentChange = await self._activity(
                request,
                ActivityName.FIND_RECENT_CHANGE,
                RecentChangeQuery(
                    customer_id=customer_id,
                    workload_id=workload_id,
                    since=now - timedelta(seconds=request.attribution_seconds),
                ),
                RecentChange,
                summary=f"our recent change to {customer_id}/{workload_id}",
            )
        except ActivityError as error:
            # Not knowing whether a change of ours preceded it, neither blame one nor rule one out.
            outcome.problems.append(f"could not look for our recent change: {_reason(error)}")
            return outcome
        change = recent.recommendation
        try:
            regression.root_cause = await self._activity(
                request,
                ActivityName.EXPLAIN_REGRESSION,
                RootCauseRequest(customer_id=customer_id, verdict=verdict, recent_change=change),
                RootCauseNote,
                summary=f"root cause of the regression of {customer_id}/{workload_id}",
            )
        except ActivityError as error:
            # The note helps the people reading it; the rollback does not wait on it.
            outcome.problems.append(f"no root-cause note: {_reason(error)}")
        if change is None:
            return outcome
        rollback_id = rollback_workflow_id(change.recommendation_id)
        regression.rolled_back_by = rollback_id
        try:
            status: OptimizationStatus = await workflow.execute_child_workflow(
                RollbackWorkflow.run,
                RollbackRequest(
                    recommendation_id=change.recommendation_id,
                    reason=f"regression after {change.title!r}: {verdict.summary}",
                    timing=request.timing,
                ),
                id=rollback_id,
                # One rollback per change: a pass after it (e.g. after a refusal) does not run it again.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(OPTI_CUSTOMER, customer_id),
                        SearchAttributePair(OPTI_WORKLOAD, workload_id),
                    ]
                ),
                static_summary=f"roll back {change.title!r} on {customer_id}/{workload_id}: regression",
            )
        except WorkflowAlreadyStartedError:
            regression.rolled_back_by = None
            outcome.problems.append(f"{rollback_id} already ran for this change; not started again")
            return outcome
        except ChildWorkflowError as error:
            outcome.problems.append(f"{rollback_id} failed: {_reason(error)}")
            return outcome
        if status.phase is not WorkflowPhase.ROLLED_BACK:
            outcome.problems.append(f"{rollback_id} ended {status.phase.value}: {status.failure_reason}")
        return outcome

    async def _activity(
        self,
        request: RegressionWatchRequest,
        name: str,
        arg: Any,
        result_type: type,
        summary: str | None = None,
    ) -> Any:
        return await call_activity(request.timing, name, arg, result_type, summary=summary)


def _reason(error: BaseException) -> str:
    """The innermost message of a failed activity or child workflow."""
    while isinstance(error, FailureError) and error.cause is not None:
        error = error.cause
    return str(error)
