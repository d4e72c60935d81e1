"""RollbackWorkflow: undo one of our executed changes by running the compensations of its applied steps,
last applied first, each recorded like a saga's; the recommendation ends rolled_back (failed when a
compensation failed). A change whose finalize steps already ran (e.g. replaced instances terminated), or
that is not executed, is refused: the refusal is recorded and nothing is touched.

The starter sets the workflow id `rollback/<recommendation_id>` (`rollback_workflow_id`), so one change is
rolled back by one run however often it is asked for."""

import asyncio
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.enums import RecommendationStatus, StepStatus
    from optiinfra.domain.recommendation import StepResult
    from workflows import own_metrics
    from workflows.activity_calls import call_activity, compensation_activity, failed_step_result
    from workflows.contracts import (
        ActivityName,
        OptimizationStatus,
        RollbackPlan,
        RollbackRequest,
        StepRecord,
        WorkflowPhase,
    )
    from workflows.search_attributes import OPTI_CUSTOMER, OPTI_STATUS, OPTI_WORKLOAD

RECORD_ROLLBACK = "record_rollback"
"""Activity: the end of a rollback on its recommendation (executed -> rolled_back or failed), or its
refusal, with an audit line. CHANGE_STATUS cannot do it: the store keeps an executed recommendation final."""


class RollbackRecord(BaseModel):
    recommendation_id: str
    status: RecommendationStatus | None = Field(
        default=None, description="rolled_back or failed; None: the rollback was refused, status unchanged"
    )
    reason: str
    actor: str


def rollback_workflow_id(recommendation_id: str) -> str:
    return f"rollback/{recommendation_id}"


@workflow.defn
class RollbackWorkflow:
    def __init__(self) -> None:
        self._status: OptimizationStatus | None = None
        self._request: RollbackRequest | None = None

    @workflow.query
    def get_status(self) -> OptimizationStatus:
        assert self._status is not None
        return self._status

    @workflow.run
    async def run(self, request: RollbackRequest) -> OptimizationStatus:
        self._request = request
        self._status = OptimizationStatus(
            workflow_id=workflow.info().workflow_id, phase=WorkflowPhase.COLLECTING
        )
        self._publish()
        plan: RollbackPlan = await self._activity(
            ActivityName.LOAD_ROLLBACK_PLAN,
            request.recommendation_id,
            RollbackPlan,
            summary=f"plan the rollback of {request.recommendation_id}",
        )
        recommendation = plan.recommendation
        self.status.recommendation = recommendation
        self.status.notes.append(f"rollback asked: {request.reason}")
        if plan.refused is not None:
            self.status.failure_reason = f"rollback refused: {plan.refused}"
            self.status.notes.append(f"nothing was changed: {plan.refused}")
            self._set_phase(WorkflowPhase(recommendation.status.value))
            await self._record(None, self.status.failure_reason)
            return self.status
        self._set_phase(WorkflowPhase.EXECUTING)
        # Shielded: a cancelled run still finishes putting the workload back, and says how it ended.
        await asyncio.shield(asyncio.ensure_future(self._compensate(plan)))
        return self.status

    async def _compensate(self, plan: RollbackPlan) -> None:
        broken: list[str] = []
        for request in plan.compensations:
            compensation = request.compensation
            try:
                result: StepResult = await self._activity(
                    compensation_activity(compensation.action),
                    request,
                    StepResult,
                    summary=compensation.description,
                    heartbeat=True,
                )
            except ActivityError as error:
                result = failed_step_result(
                    f"compensate-{request.step_id}", compensation, error, StepStatus.COMPENSATION_FAILED
                )
                broken.append(f"{compensation.description}: {result.detail}")
            own_metrics.compensation_run(
                action=compensation.action.value,
                succeeded=result.status is not StepStatus.COMPENSATION_FAILED,
            )
            self.status.step_results.append(result)
            await self._activity(
                ActivityName.RECORD_STEP,
                StepRecord(recommendation_id=plan.recommendation.recommendation_id, result=result),
            )
        reason = self.request.reason
        if broken:
            reason = f"{reason}; compensation incomplete: {'; '.join(broken)}"
        self.status.failure_reason = reason
        final = RecommendationStatus.FAILED if broken else RecommendationStatus.ROLLED_BACK
        assert self.status.recommendation is not None
        self.status.recommendation.status = final
        self._set_phase(WorkflowPhase(final.value))
        await self._record(final, reason)

    async def _record(self, status: RecommendationStatus | None, reason: str) -> None:
        await self._activity(
            RECORD_ROLLBACK,
            RollbackRecord(
                recommendation_id=self.request.recommendation_id,
                status=status,
                reason=reason,
                actor=f"workflow:{workflow.info().workflow_id}",
            ),
        )

    # ---- helpers --------------------------------------------------------------------------

    @property
    def status(self) -> OptimizationStatus:
        assert self._status is not None
        return self._status

    @property
    def request(self) -> RollbackRequest:
        assert self._request is not None
        return self._request

    def _set_phase(self, phase: WorkflowPhase) -> None:
        self.status.phase = phase
        self._publish()

    def _publish(self) -> None:
        recommendation = self.status.recommendation
        attributes = [OPTI_STATUS.value_set(self.status.phase.value)]
        if recommendation is not None:
            attributes += [
                OPTI_CUSTOMER.value_set(recommendation.customer_id),
                OPTI_WORKLOAD.value_set(recommendation.workload_id),
            ]
        workflow.upsert_search_attributes(attributes)
        lines = [
            f"**rollback: {self.status.phase.value}**",
            f"recommendation `{self.request.recommendation_id}`",
        ]
        if recommendation is not None:
            lines.append(recommendation.title)
        lines.append(f"asked: {self.request.reason}")
        if self.status.failure_reason:
            lines.append(f"outcome: {self.status.failure_reason}")
        workflow.set_current_details("\n\n".join(lines))

    async def _activity(
        self,
        name: str,
        arg: Any,
        result_type: type | None = None,
        summary: str | None = None,
        heartbeat: bool = False,
    ) -> Any:
        return await call_activity(
            self.request.timing, name, arg, result_type, summary=summary, heartbeat=heartbeat
        )
