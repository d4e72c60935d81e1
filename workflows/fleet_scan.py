"""FleetScanWorkflow: one scan of the fleet, started by an `optiinfra/scan/<id>` Schedule (or by hand).

It lists the workloads and starts a JointOptimizationWorkflow for each (of one customer, when given),
without waiting for them: a joint run may wait days for an approval. The children outlive the scan
(ParentClosePolicy.ABANDON). Each child's id names the scan's tick, `joint/<customer>/<workload>/scan/
<time>`, and an id is never reused, so a retried or duplicated scan of the same tick never starts a
second joint run for a workload: it finds the first and reports it as already running.

The fleet is listed and started a page at a time (`batch_size`), skipping workloads with a change of ours
in flight (a held lock, a recommendation waiting or executing); after `batches_per_run` pages the scan
continues as new, carrying its progress, so its history stays bounded however large the fleet. Progress is
the `progress` query and the `OptiScanProgress` search attribute (workloads listed so far).

Flow control: at most `max_in_flight` of the runs a scan started are proposing at once. Each run signals
the scan (`joint_settled`) when its proposals are in and resolved; the next batch starts when there is room
for it. Started all at once, thousands of runs would each hold a place in the workers' workflow caches and
every one would be replayed from its history on each of its tasks.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows import own_metrics, priorities
    from workflows.contracts import (
        JOINT_SETTLED_SIGNAL,
        ActivityName,
        FleetScanProgress,
        FleetScanRequest,
        FleetScanSummary,
        JointOptimizationRequest,
        JointPhase,
        JointStatus,
        ScanItem,
        ScanPage,
        ScanPageRequest,
        WorkloadList,
    )
    from workflows.search_attributes import (
        OPTI_AGENT,
        OPTI_CUSTOMER,
        OPTI_SCAN_PROGRESS,
        OPTI_STATUS,
        OPTI_WORKLOAD,
        SCHEDULED_START_TIME,
    )
    from workflows.task_queues import activity_task_queue

JOINT_WORKFLOW_TYPE = "JointOptimizationWorkflow"
"""Started by name: the joint workflow lives in its own module and the scan only needs its type."""
JOINT_AGENT = "joint"
"""The OptiAgent value of joint runs, as the joint workflow itself publishes it."""


def scan_time_label(at: datetime) -> str:
    """The tick a scan stands for, in UTC at minute resolution, e.g. `20261122T1000Z`; a tick of a
    sub-minute cron (seconds field not 0) keeps its seconds, `20261122T100030Z`, so two ticks within one
    minute stay two scans."""
    at = at.astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%SZ" if at.second else "%Y%m%dT%H%MZ")


def joint_workflow_id(customer_id: str, workload_id: str, scanned_at: datetime) -> str:
    return f"joint/{customer_id}/{workload_id}/scan/{scan_time_label(scanned_at)}"


def scan_time(info: workflow.Info, now: datetime) -> datetime:
    """The schedule's scheduled start time when a Schedule started this scan; otherwise the start
    minute (a scan started by hand twice within a minute stands for one tick)."""
    scheduled = info.typed_search_attributes.get(SCHEDULED_START_TIME)
    if scheduled is not None:
        return scheduled.replace(microsecond=0)
    return now.replace(second=0, microsecond=0)


SCAN_IN_BATCHES = "scan-in-batches"
"""`workflow.patched` id: from this change on, a scan lists and starts the fleet a page at a time, skips
workloads with a change in flight, and continues as new every few batches."""


SCAN_FLOW_CONTROL = "scan-flow-control"
"""`workflow.patched` id: from this change on, a scan keeps at most `max_in_flight` of the runs it started
proposing at once (each tells it when its proposing is over), so a fleet of thousands is worked through a
bounded set at a time."""


@workflow.defn
class FleetScanWorkflow:
    def __init__(self) -> None:
        self._progress: FleetScanProgress | None = None
        self._settled_early: set[str] = set()
        """Runs that told of their end before the scan had recorded them as started."""

    @workflow.signal(name=JOINT_SETTLED_SIGNAL)
    def joint_settled(self, workflow_id: str) -> None:
        """A run this scan started is done proposing: it leaves the in-flight set."""
        progress = self._progress
        if progress is not None and workflow_id in progress.in_flight:
            progress.in_flight.remove(workflow_id)
        else:
            self._settled_early.add(workflow_id)

    @workflow.query
    def progress(self) -> FleetScanProgress | None:
        """How far the scan has come (None for a scan started before batches, or not yet begun)."""
        return self._progress

    @workflow.run
    async def run(self, request: FleetScanRequest) -> FleetScanSummary:
        if request.progress is not None:  # a continued run: patched, and already counted as started
            return await self._scan_in_batches(request, request.progress)
        own_metrics.scheduled_run_started()
        if not workflow.patched(SCAN_IN_BATCHES):
            return await self._scan_at_once(request)
        progress = FleetScanProgress(scanned_at=scan_time(workflow.info(), workflow.now()))
        return await self._scan_in_batches(request, progress)

    async def _scan_in_batches(
        self, request: FleetScanRequest, progress: FleetScanProgress
    ) -> FleetScanSummary:
        self._progress = progress
        timing = request.timing
        flow_control = workflow.patched(SCAN_FLOW_CONTROL)
        for _ in range(request.batches_per_run):
            page: ScanPage = await workflow.execute_activity(
                ActivityName.LIST_SCAN_PAGE,
                ScanPageRequest(
                    customer_id=request.customer_id, after=progress.after, limit=request.batch_size
                ),
                result_type=ScanPage,
                task_queue=activity_task_queue(ActivityName.LIST_SCAN_PAGE),
                start_to_close_timeout=timedelta(seconds=timing.activity_timeout_seconds),
                retry_policy=RetryPolicy(maximum_attempts=timing.activity_max_attempts),
            )
            if flow_control and page.items:
                await self._wait_for_room(request, progress)
            await self._start_batch(request, page.items, progress, flow_control=flow_control)
            progress.summary.scanned += len(page.items)
            progress.after = page.after
            workflow.upsert_search_attributes([OPTI_SCAN_PROGRESS.value_set(progress.summary.scanned)])
            if page.after is None:
                progress.done = True
                return progress.summary
            if workflow.info().is_continue_as_new_suggested():
                break
        # Each run's history holds at most `batches_per_run` batches: the next run takes the scan on.
        workflow.continue_as_new(
            request.model_copy(update={"progress": progress.model_copy(update={"runs": progress.runs + 1})})
        )

    async def _wait_for_room(self, request: FleetScanRequest, progress: FleetScanProgress) -> None:
        """Until the runs still proposing leave room for another batch; after `in_flight_timeout_seconds`
        the scan stops waiting for the ones that have not told (counted as unreported)."""
        room = max(0, request.max_in_flight - request.batch_size)
        try:
            await workflow.wait_condition(
                lambda: len(progress.in_flight) <= room,
                timeout=timedelta(seconds=request.in_flight_timeout_seconds),
                timeout_summary="room for the next batch",
            )
        except TimeoutError:
            progress.summary.unreported_count += len(progress.in_flight)
            workflow.logger.warning(
                "%d runs had not finished proposing after %ds: the scan goes on without them",
                len(progress.in_flight),
                request.in_flight_timeout_seconds,
            )
            progress.in_flight.clear()

    async def _start_batch(
        self,
        request: FleetScanRequest,
        items: list[ScanItem],
        progress: FleetScanProgress,
        *,
        flow_control: bool = False,
    ) -> None:
        summary = progress.summary
        for item in items:
            if item.in_flight is not None:
                summary.add("skipped_in_flight", f"{item.customer_id}/{item.workload_id}: {item.in_flight}")
        todo = [item for item in items if item.in_flight is None]
        report_to = workflow.info().workflow_id if flow_control else None
        started = await asyncio.gather(
            *(
                self._start_joint(
                    request, item.customer_id, item.workload_id, progress.scanned_at, report_to=report_to
                )
                for item in todo
            ),
            return_exceptions=True,
        )
        for item, outcome in zip(todo, started, strict=True):
            workflow_id = joint_workflow_id(item.customer_id, item.workload_id, progress.scanned_at)
            if isinstance(outcome, WorkflowAlreadyStartedError):
                summary.add("already_running", workflow_id)
            elif isinstance(outcome, BaseException):
                summary.add("failures", f"{workflow_id}: {outcome}")
            else:
                summary.add("started", workflow_id)
                if flow_control and workflow_id not in self._settled_early:
                    progress.in_flight.append(workflow_id)
        self._settled_early.clear()

    async def _scan_at_once(self, request: FleetScanRequest) -> FleetScanSummary:
        """Scans started before SCAN_IN_BATCHES: every workload listed and started in one go."""
        timing = request.timing
        listed: WorkloadList = await workflow.execute_activity(
            ActivityName.LIST_WORKLOADS,
            result_type=WorkloadList,
            task_queue=activity_task_queue(ActivityName.LIST_WORKLOADS),
            start_to_close_timeout=timedelta(seconds=timing.activity_timeout_seconds),
            retry_policy=RetryPolicy(maximum_attempts=timing.activity_max_attempts),
        )
        workloads = [
            w for w in listed.workloads if request.customer_id is None or w.customer_id == request.customer_id
        ]
        scanned_at = scan_time(workflow.info(), workflow.now())
        started = await asyncio.gather(
            *(
                self._start_joint(request, workload.customer_id, workload.workload_id, scanned_at)
                for workload in workloads
            ),
            return_exceptions=True,
        )
        summary = FleetScanSummary()
        for workload, outcome in zip(workloads, started, strict=True):
            workflow_id = joint_workflow_id(workload.customer_id, workload.workload_id, scanned_at)
            if isinstance(outcome, WorkflowAlreadyStartedError):
                summary.already_running.append(workflow_id)
            elif isinstance(outcome, BaseException):
                summary.failures.append(f"{workflow_id}: {outcome}")
            else:
                summary.started.append(workflow_id)
        return summary

    async def _start_joint(
        self,
        request: FleetScanRequest,
        customer_id: str,
        workload_id: str,
        scanned_at: datetime,
        *,
        report_to: str | None = None,
    ) -> ChildWorkflowHandle[object, JointStatus]:
        handle: ChildWorkflowHandle[object, JointStatus] = await workflow.start_child_workflow(
            JOINT_WORKFLOW_TYPE,
            JointOptimizationRequest(
                customer_id=customer_id,
                workload_id=workload_id,
                agents=request.agents,
                timing=request.timing,
                report_to=report_to,
            ),
            id=joint_workflow_id(customer_id, workload_id, scanned_at),
            result_type=JointStatus,
            # Approvals can take days: the joint run outlives the scan, which only starts it.
            parent_close_policy=ParentClosePolicy.ABANDON,
            # An id stands for one tick: never run it twice, even after the first run closed.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # After what people started and wait on; each customer its share of the workers.
            priority=priorities.batch(customer_id),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(OPTI_CUSTOMER, customer_id),
                    SearchAttributePair(OPTI_WORKLOAD, workload_id),
                    SearchAttributePair(OPTI_AGENT, JOINT_AGENT),
                    SearchAttributePair(OPTI_STATUS, JointPhase.PROPOSING.value),
                ]
            ),
            static_summary=(
                f"joint optimization of {customer_id}/{workload_id} "
                f"({', '.join(agent.value for agent in request.agents)}), "
                f"fleet scan of {scan_time_label(scanned_at)}"
            ),
        )
        return handle
