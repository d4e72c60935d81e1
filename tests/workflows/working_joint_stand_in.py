"""A stand-in for JointOptimizationWorkflow whose workflow task costs CPU, as a real joint run's does, for
the fairness test: with the workers' own slot count, runs that cost nothing drain as fast as the scan
queues them, and nothing waits. In a module of its own: the workflow sandbox re-imports the module that
defines a workflow."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import JointOptimizationRequest, JointPhase, JointStatus

WORK_ITERATIONS = 1_200_000
"""About 20 ms of one core on this project's CI machines: a little under the orchestration CPU one real
workflow run costs (`bench scale` measures about 0.2 s for an optimization's five runs)."""


def _work() -> int:
    return sum(i * i for i in range(WORK_ITERATIONS))


@workflow.defn(name="JointOptimizationWorkflow")
class WorkingJointStandIn:
    @workflow.run
    async def run(self, request: JointOptimizationRequest) -> JointStatus:
        _work()
        return JointStatus(
            workflow_id=workflow.info().workflow_id,
            customer_id=request.customer_id,
            workload_id=request.workload_id,
            phase=JointPhase.NO_ACTION,
            notes=[agent.value for agent in request.agents],
        )
