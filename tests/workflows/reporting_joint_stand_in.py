"""A stand-in for JointOptimizationWorkflow that proposes until the test releases it (signal `release`),
then tells its fleet scan it is done proposing, as the real one does. In a module of its own: the workflow
sandbox re-imports the module that defines a workflow."""

from contextlib import suppress

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import (
        JOINT_SETTLED_SIGNAL,
        JointOptimizationRequest,
        JointPhase,
        JointStatus,
    )


@workflow.defn(name="JointOptimizationWorkflow")
class ReportingJointStandIn:
    def __init__(self) -> None:
        self._released = False

    @workflow.signal
    def release(self) -> None:
        self._released = True

    @workflow.run
    async def run(self, request: JointOptimizationRequest) -> JointStatus:
        await workflow.wait_condition(lambda: self._released)
        if request.report_to is not None:
            # A scan that has ended has nobody to tell, as for the real run.
            with suppress(FailureError):
                await workflow.get_external_workflow_handle(request.report_to).signal(
                    JOINT_SETTLED_SIGNAL, workflow.info().workflow_id
                )
        return JointStatus(
            workflow_id=workflow.info().workflow_id,
            customer_id=request.customer_id,
            workload_id=request.workload_id,
            phase=JointPhase.NO_ACTION,
        )
