"""The workers of one process, one per task queue it polls (`workflows.task_queues`), run and stopped as
one: when one stops (shut down, or failed), the others are shut down too, and a failure is raised."""

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from temporalio.worker import Worker


class WorkerGroup:
    def __init__(self, workers: Sequence[Worker]) -> None:
        if not workers:
            raise ValueError("a worker group needs at least one worker")
        self.workers = list(workers)
        self._entered: AsyncExitStack | None = None

    @property
    def task_queues(self) -> list[str]:
        return [worker.task_queue for worker in self.workers]

    async def run(self) -> None:
        runs = [
            asyncio.create_task(worker.run(), name=f"worker {worker.task_queue}") for worker in self.workers
        ]
        try:
            await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.shutdown()
            outcomes = await asyncio.gather(*runs, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    async def shutdown(self) -> None:
        await asyncio.gather(
            *(worker.shutdown() for worker in self.workers if worker.is_running and not worker.is_shutdown)
        )

    async def __aenter__(self) -> "WorkerGroup":
        async with AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker)
            self._entered = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entered, self._entered = self._entered, None
        if entered is not None:
            await entered.__aexit__(exc_type, exc, traceback)
