"""Which workers poll a task queue, as the engine saw them lately."""

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


async def poller_identities(client: Client, task_queue: str, queue_type: TaskQueueType.ValueType) -> set[str]:
    """The identities (`<pid>@<host>` by default) of the workers that polled `task_queue` for tasks of
    `queue_type` in the engine's recent memory (a stopped worker stays listed for a few minutes)."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=queue_type
        )
    )
    return {poller.identity for poller in described.pollers}
