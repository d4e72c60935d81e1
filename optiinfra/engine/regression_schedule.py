"""The regression watch's Temporal Schedule, created or brought up to date idempotently at start-up, and
the watch's request as the settings make it."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from optiinfra.control.optimizations import regression_thresholds, timing_from
from optiinfra.engine.schedules import ensure_schedule
from optiinfra.settings import Settings
from workflows.contracts import RegressionWatchRequest
from workflows.regression_watch import (
    REGRESSION_WATCH_SCHEDULE_ID,
    REGRESSION_WATCH_WORKFLOW_ID,
    RegressionWatchWorkflow,
)


def regression_watch_request(settings: Settings) -> RegressionWatchRequest:
    return RegressionWatchRequest(
        attribution_seconds=settings.regression_attribution_seconds,
        thresholds=regression_thresholds(settings),
        timing=timing_from(settings),
    )


def regression_watch_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RegressionWatchWorkflow.run,
            regression_watch_request(settings),
            id=REGRESSION_WATCH_WORKFLOW_ID,
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.regression_watch_interval_seconds))
            ]
        ),
        # A pass still rolling a change back must not have a second one beside it.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_regression_watch_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or update it to the configured interval, thresholds and task queue."""
    await ensure_schedule(client, REGRESSION_WATCH_SCHEDULE_ID, regression_watch_schedule(settings))
