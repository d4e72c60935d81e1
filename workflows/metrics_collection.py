"""MetricsCollectionWorkflow: one collection pass over every registered workload, started by the
`optiinfra/metrics-collection` Schedule (every OPTIINFRA_METRICS_INTERVAL_SECONDS)."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.collection import CollectionReport
    from workflows import own_metrics
    from workflows.contracts import (
        ActivityName,
        MetricsCollectionRequest,
        MetricsCollectionSummary,
        WorkloadList,
    )
    from workflows.task_queues import activity_task_queue

METRICS_SCHEDULE_ID = "optiinfra/metrics-collection"


@workflow.defn
class MetricsCollectionWorkflow:
    @workflow.run
    async def run(self, request: MetricsCollectionRequest) -> MetricsCollectionSummary:
        own_metrics.scheduled_run_started()
        timeout = timedelta(seconds=request.activity_timeout_seconds)
        # A pass that misses a beat is simply followed by the next one: retry briefly, never pile up.
        retry = RetryPolicy(maximum_attempts=2)
        listed: WorkloadList = await workflow.execute_activity(
            ActivityName.LIST_WORKLOADS,
            result_type=WorkloadList,
            task_queue=activity_task_queue(ActivityName.LIST_WORKLOADS),
            start_to_close_timeout=timeout,
            retry_policy=retry,
        )
        reports: list[CollectionReport | BaseException] = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ActivityName.COLLECT_METRICS,
                    workload,
                    result_type=CollectionReport,
                    task_queue=activity_task_queue(ActivityName.COLLECT_METRICS),
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                    summary=f"{workload.customer_id}/{workload.workload_id}",
                )
                for workload in listed.workloads
            ),
            return_exceptions=True,
        )
        summary = MetricsCollectionSummary(workloads=len(listed.workloads), utilization_rows=0, window_rows=0)
        for workload, report in zip(listed.workloads, reports, strict=True):
            if isinstance(report, BaseException):
                summary.failures.append(f"{workload.customer_id}/{workload.workload_id}: {report}")
                continue
            summary.utilization_rows += report.utilization_rows
            summary.window_rows += report.window_rows
            summary.failures += report.failures
        return summary
