"""On the dev server, through the project's client: a workflow's large result is stored in its history
compressed (the codec's encoding) and comes back whole; a small one is stored readable, as the Temporal UI
shows it without a codec server."""

from uuid import uuid4

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from optiinfra.engine.codec import ENCODING


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    @workflow.run
    async def run(self, size: int) -> list[float]:
        return [0.25] * size


async def _stored_result_encoding(client: Client, size: int) -> tuple[bytes, list[float]]:
    queue = f"codec-{uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[EchoWorkflow]):
        handle = await client.start_workflow(EchoWorkflow.run, size, id=f"codec/{uuid4()}", task_queue=queue)
        result = await handle.result()
    history = await handle.fetch_history()
    completed = history.events[-1].workflow_execution_completed_event_attributes
    return completed.result.payloads[0].metadata["encoding"], result


async def test_a_large_result_is_stored_compressed_and_a_small_one_readable(temporal_client: Client) -> None:
    encoding, result = await _stored_result_encoding(temporal_client, 10_000)
    assert encoding == ENCODING and result == [0.25] * 10_000
    encoding, result = await _stored_result_encoding(temporal_client, 3)
    assert encoding == b"json/plain" and result == [0.25] * 3
