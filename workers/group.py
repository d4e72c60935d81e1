"""The workers of one process, one per task queue it polls (`workflows.task_queues`), run and stopped as
one: when one stops (shut down, or failed), the others are shut down too, and a failure is raised."""

import asyncio
from collections.abc import Callable, Collection, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from workflows.task_queues import WorkKind, activity_kind
from workflows.task_queues import task_queue as queue_of

WORKFLOW_TASK_SLOTS = 8
"""How many workflow tasks an orchestration worker runs at once (OPTIINFRA_WORKER_WORKFLOW_TASK_SLOTS).
Workflow tasks are Python that needs the CPU and shares one interpreter lock, so beyond a few more slots add
no throughput: they only move the queue off the server, where priority and fairness order it, into the
worker, where every task taken shares the CPU with the others. With Temporal's default of 100, a decision
sent while one customer's 1,000-run scan kept the worker busy was accepted after 8.5 s (a form of
`tests/workflows/test_fairness.py` whose runs each cost 50 ms of CPU); with 8, after 0.04 to 0.5 s, and
the scan's runs drained in 74 s instead of 82 s. `bench scale --workloads 400 --workers 1`: 122.9
optimizations a minute and 0.213 s of orchestration CPU each with 8, 119.1 and 0.233 s with 100."""


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


def activity_name(fn: Callable[..., Any]) -> str:
    definition = activity._Definition.must_from_callable(fn)
    if definition.name is None:
        raise ValueError(f"{fn} is a dynamic activity: every activity here has a name")
    return definition.name


def workers_by_kind(
    client: Client,
    *,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    kinds: Collection[WorkKind] = tuple(WorkKind),
    slots: Callable[[WorkKind], int] | None = None,
    workflow_task_slots: int = WORKFLOW_TASK_SLOTS,
) -> WorkerGroup:
    """One worker per kind in `kinds` that has something to run: the orchestration one with `workflows`
    and its activities on `task_queue`, every other kind with its activities on its own queue beside it;
    `slots` caps the activities each kind runs at once, `workflow_task_slots` the workflow tasks."""
    workers = []
    for kind in WorkKind:
        own = [fn for fn in activities if activity_kind(activity_name(fn)) is kind]
        flows = list(workflows) if kind is WorkKind.ORCHESTRATION else []
        if kind not in kinds or not (own or flows):
            continue
        workers.append(
            Worker(
                client,
                task_queue=queue_of(task_queue, kind),
                workflows=flows,
                activities=own,
                max_concurrent_activities=slots(kind) if slots is not None else None,
                max_concurrent_workflow_tasks=workflow_task_slots if flows else None,
            )
        )
    return WorkerGroup(workers)
