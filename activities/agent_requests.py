"""Delivers one agent's request to another agent's workflow for the same workload (signal-with-start),
on the task queue this worker serves."""

from temporalio import activity
from temporalio.client import Client

from optiinfra.control.optimizations import deliver_agent_request
from workflows.contracts import ActivityName, AgentRequestDelivery, AgentRequestReceipt


class AgentRequestActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=ActivityName.SEND_AGENT_REQUEST)
    async def send_agent_request(self, delivery: AgentRequestDelivery) -> AgentRequestReceipt:
        workflow_id = await deliver_agent_request(
            client=self._client, task_queue=activity.info().task_queue, delivery=delivery
        )
        return AgentRequestReceipt(workflow_id=workflow_id)
