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


async def ensure_metrics_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or update it to the configured interval and task queue."""
    schedule = metrics_collection_schedule(settings)
    try:
        await client.create_schedule(METRICS_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(METRICS_SCHEDULE_ID).update(replace)
