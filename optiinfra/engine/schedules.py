"""The project's Temporal Schedules, created or brought up to date idempotently at start-up."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from optiinfra.settings import Settings
from workflows.contracts import MetricsCollectionRequest
from workflows.metrics_collection import METRICS_SCHEDULE_ID, MetricsCollectionWorkflow


def metrics_collection_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MetricsCollectionWorkflow.run,
            MetricsCollectionRequest(),
            id="metrics/collect",
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.metrics_interval_seconds))]
        ),
        # A slow pass must not start a second one beside it.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the schedule, or replace the one already there with it (idempotent at start-up)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)


async def ensure_metrics_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or update it to the configured interval and task queue."""
    await ensure_schedule(client, METRICS_SCHEDULE_ID, metrics_collection_schedule(settings))
