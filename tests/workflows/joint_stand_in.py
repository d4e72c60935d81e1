"""A stand-in for JointOptimizationWorkflow, registered under its type name, so the fleet-scan tests see
what each scan started (and with what input) without running four agents per workload. It lives in a
module of its own because the workflow sandbox re-imports the module that defines a workflow."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import JointOptimizationRequest, JointPhase, JointStatus


@workflow.defn(name="JointOptimizationWorkflow")
class JointStandIn:
    @workflow.run
    async def run(self, request: JointOptimizationRequest) -> JointStatus:
        return JointStatus(
            workflow_id=workflow.info().workflow_id,
            customer_id=request.customer_id,
            workload_id=request.workload_id,
            phase=JointPhase.NO_ACTION,
            notes=[
                *(agent.value for agent in request.agents),
                f"approval_timeout_seconds={request.timing.approval_timeout_seconds}",
            ],
        )
