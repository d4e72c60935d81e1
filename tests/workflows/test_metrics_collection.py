"""The metrics collection Schedule on the real dev server starts collection passes on its interval."""

import asyncio
import time

import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow

from optiinfra.engine.schedules import ensure_metrics_schedule
from tests.support.polling import read_retrying
from tests.workflows.conftest import Harness
from workflows.contracts import MetricsCollectionSummary
from workflows.metrics_collection import METRICS_SCHEDULE_ID


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_schedule_runs_collection_passes_over_every_workload(harness: Harness) -> None:
    settings = harness.settings.model_copy(update={"metrics_interval_seconds": 2})
    await ensure_metrics_schedule(harness.client, settings)
    await ensure_metrics_schedule(harness.client, settings)  # idempotent: updates, never duplicates
    handle = harness.client.get_schedule_handle(METRICS_SCHEDULE_ID)
    try:
        deadline = time.monotonic() + 30
        while True:
            described = await read_retrying(handle.describe)
            started = [
                a.action
                for a in described.info.recent_actions
                if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
            ]
            if len(started) >= 2:
                break
            assert time.monotonic() < deadline, "the schedule did not start two passes in 30 s"
            await asyncio.sleep(0.5)
        assert described.schedule.spec.intervals[0].every.total_seconds() == 2
        run = harness.client.get_workflow_handle(
            started[0].workflow_id,
            run_id=started[0].first_execution_run_id,
            result_type=MetricsCollectionSummary,
        )
        summary = await run.result()
        assert summary.workloads == 5
        assert summary.failures == []
    finally:
        await handle.delete()
