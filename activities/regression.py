"""Regression defense activities: a workload's serving health from the metrics store, the rules' verdict
against a baseline, the root-cause note of a confirmed regression (the only case the language-model layer is
asked), our latest change to a workload, and the plan and end of rolling one back."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.own_metrics import WorkerGauges
from activities.tenants import load_tenant, record_usage
from agents.reasoning.layering import InferenceLayer
from agents.regression.root_cause import ExplainRegression
from agents.regression.rules import judge, serving_health
from optiinfra.domain.enums import RecommendationStatus, StepPhase, StepStatus
from optiinfra.domain.recommendation import Recommendation, StepResult
from optiinfra.domain.regression import RegressionVerdict, RootCauseNote, ServingHealth
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.store import changes, repository
from workflows.contracts import (
    ActivityName,
    CompensationRequest,
    HealthRequest,
    RecentChange,
    RecentChangeQuery,
    RegressionCheck,
    RollbackPlan,
    RootCauseRequest,
)
from workflows.rollback import RECORD_ROLLBACK, RollbackRecord

HEALTH_PERIOD_SECONDS = 60
"""The store rolls replicas up per period of this length (the default collection interval): a period then
holds about one window per replica, so its latency is the worst replica's in that window."""


class RegressionActivities:
    def __init__(
        self,
        metrics: AsyncMetricsStore,
        sessions: async_sessionmaker[AsyncSession],
        layer: InferenceLayer,
        *,
        period_seconds: int = HEALTH_PERIOD_SECONDS,
        gauges: WorkerGauges | None = None,
    ) -> None:
        self._metrics = metrics
        self._sessions = sessions
        self._layer = layer
        self._period_seconds = period_seconds
        self._gauges = gauges or WorkerGauges.none()

    @activity.defn(name=ActivityName.MEASURE_SERVING_HEALTH)
    async def measure_serving_health(self, request: HealthRequest) -> ServingHealth:
        return await self._measure(request.customer_id, request.workload_id, request.since, request.until)

    @activity.defn(name=ActivityName.CHECK_REGRESSION)
    async def check_regression(self, check: RegressionCheck) -> RegressionVerdict:
        """Measure the current period of the baseline's workload, then judge it against the baseline."""
        baseline = check.baseline
        current = await self._measure(baseline.customer_id, baseline.workload_id, check.since, check.until)
        return judge(baseline, current, check.thresholds)

    @activity.defn(name=ActivityName.EXPLAIN_REGRESSION)
    async def explain_regression(self, request: RootCauseRequest) -> RootCauseNote:
        """Refused (not retried) unless the verdict is a regression the rules confirmed: a model is never
        asked about a workload that is serving as before."""
        verdict = request.verdict
        if not confirmed(verdict):
            raise ApplicationError(
                f"no confirmed regression of {verdict.current.customer_id}/{verdict.current.workload_id} to "
                f"explain: {verdict.summary}",
                type="NotARegression",
                non_retryable=True,
            )
        tenant = await load_tenant(self._sessions, request.customer_id)
        inference = await self._layer.answer(ExplainRegression(verdict, request.recent_change), tenant=tenant)
        self._gauges.breakers_of(self._layer)
        await record_usage(self._sessions, request.customer_id, inference.usage)
        return inference.answer.note(inference.usage.written_by)

    @activity.defn(name=ActivityName.LOAD_ROLLBACK_PLAN)
    async def load_rollback_plan(self, recommendation_id: str) -> RollbackPlan:
        async with self._sessions() as session:
            found = await changes.change_with_results(session=session, recommendation_id=recommendation_id)
        if found is None:
            raise ApplicationError(
                f"no recommendation {recommendation_id!r}", type="UnknownRecommendation", non_retryable=True
            )
        recommendation, results = found
        async with self._sessions() as session:
            workload = await repository.get_workload(
                session=session,
                customer_id=recommendation.customer_id,
                workload_id=recommendation.workload_id,
            )
        return plan_rollback(recommendation, results, region=None if workload is None else workload.region)

    @activity.defn(name=ActivityName.FIND_RECENT_CHANGE)
    async def find_recent_change(self, query: RecentChangeQuery) -> RecentChange:
        async with self._sessions() as session:
            recommendation = await changes.latest_executed_change(
                session=session,
                customer_id=query.customer_id,
                workload_id=query.workload_id,
                since=query.since,
            )
        return RecentChange(recommendation=recommendation)

    @activity.defn(name=RECORD_ROLLBACK)
    async def record_rollback(self, record: RollbackRecord) -> None:
        async with self._sessions.begin() as session:
            if record.status is None:
                await changes.record_rollback_refused(
                    session=session,
                    recommendation_id=record.recommendation_id,
                    reason=record.reason,
                    actor=record.actor,
                )
                return
            try:
                await changes.end_rollback(
                    session=session,
                    recommendation_id=record.recommendation_id,
                    status=record.status,
                    reason=record.reason,
                    actor=record.actor,
                )
            except (LookupError, ValueError) as error:
                raise ApplicationError(str(error), type="RollbackNotRecorded", non_retryable=True) from error

    async def _measure(
        self, customer_id: str, workload_id: str, since: datetime, until: datetime
    ) -> ServingHealth:
        windows = await self._metrics.read_workload_windows(
            customer_id, workload_id, since, until, self._period_seconds
        )
        return serving_health(
            windows, customer_id=customer_id, workload_id=workload_id, since=since, until=until
        )


def confirmed(verdict: RegressionVerdict) -> bool:
    """A regression the rules found: judgeable, with findings whose figures are over their limits."""
    return (
        verdict.regressed
        and verdict.judgeable
        and bool(verdict.findings)
        and all(finding.current > finding.limit for finding in verdict.findings)
    )


def plan_rollback(
    recommendation: Recommendation, results: list[StepResult], *, region: str | None = None
) -> RollbackPlan:
    """The compensations of the apply steps that succeeded, last applied first. Refused when the
    recommendation is not executed, when a finalize step already ran (what a compensation needs may be
    gone, e.g. a terminated instance), or when an applied step has no compensation."""
    plan = RollbackPlan(recommendation=recommendation)
    if recommendation.status is not RecommendationStatus.EXECUTED:
        plan.refused = f"it is {recommendation.status.value}; only an executed change is rolled back"
        return plan
    ran = {result.step_id for result in results}
    succeeded = {result.step_id for result in results if result.status is StepStatus.SUCCEEDED}
    finalized = [s for s in recommendation.steps if s.phase is StepPhase.FINALIZE and s.step_id in ran]
    if finalized:
        plan.refused = "finalize steps already ran, so it cannot be undone: " + "; ".join(
            f"{s.step_id} ({s.description})" for s in finalized
        )
        return plan
    applied = [s for s in recommendation.steps if s.phase is StepPhase.APPLY and s.step_id in succeeded]
    if not applied:
        plan.refused = "none of its steps was applied: there is nothing to undo"
        return plan
    irreversible = [s for s in applied if s.compensation is None]
    if irreversible:
        plan.refused = "applied steps without a compensation: " + "; ".join(
            f"{s.step_id} ({s.description})" for s in irreversible
        )
        return plan
    plan.compensations = [
        CompensationRequest(
            step_id=step.step_id,
            compensation=step.compensation,
            customer_id=recommendation.customer_id,
            region=region,
        )
        for step in reversed(applied)
        if step.compensation is not None
    ]
    return plan
