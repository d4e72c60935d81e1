"""A run waiting for a person's decision, as the approval gate of an optimization waits, for the fairness
test: the decision is an update its workflow task must be dispatched to accept. In a module of its own
because the workflow sandbox re-imports the module that defines a workflow."""

from temporalio import workflow


@workflow.defn
class AwaitingDecision:
    def __init__(self) -> None:
        self._decided = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._decided)
        return "decided"

    @workflow.update
    async def decide(self) -> str:
        self._decided = True
        return "accepted"
