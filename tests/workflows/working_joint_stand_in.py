"""A stand-in for JointOptimizationWorkflow whose workflow task holds its worker slot a while, for the
fairness test: with the workers' own slot count, runs that take no time drain as fast as the scan queues
them, and nothing waits. It holds the slot asleep rather than busy, so the test does not take the CPU from
the scan's own workflow tasks (which must answer within Temporal's 2 s deadlock bound) or from other tests.
In a module of its own: the workflow sandbox re-imports the module that defines a workflow."""

import time

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import JointOptimizationRequest, JointPhase, JointStatus

HOLD_S = 0.5
"""How long each run's task holds its slot: 8 slots then complete 16 runs a second, fewer than the engine
starts, so the scan's runs back up."""


@workflow.defn(name="JointOptimizationWorkflow")
class WorkingJointStandIn:
    @workflow.run
    async def run(self, request: JointOptimizationRequest) -> JointStatus:
        with workflow.unsafe.sandbox_unrestricted():
            time.sleep(HOLD_S)  # noqa: ASYNC251 (blocking is the point: the task holds its slot)
        return JointStatus(
            workflow_id=workflow.info().workflow_id,
            customer_id=request.customer_id,
            workload_id=request.workload_id,
            phase=JointPhase.NO_ACTION,
            notes=[agent.value for agent in request.agents],
        )
