"""Fleet-scan Schedules: Temporal Schedules named `optiinfra/scan/<id>` that start a FleetScanWorkflow at
their cron times. Created, listed, described, paused, unpaused and deleted through the Temporal client.

The Temporal server compiles cron strings into calendar specs (a described schedule no longer holds the
strings), so each schedule keeps the spec it was created from in its memo: that is what is shown back."""

from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from optiinfra.control.optimizations import timing_from
from optiinfra.control.schedule_spec import (
    SCAN_SCHEDULE_PREFIX,
    ScanRun,
    ScanScheduleSpec,
    ScanScheduleView,
)
from optiinfra.settings import Settings
from workflows.contracts import ALL_AGENTS, FleetScanRequest
from workflows.fleet_scan import FleetScanWorkflow

SPEC_MEMO_KEY = "optiinfra_scan_spec"
SCAN_CATCHUP_WINDOW = timedelta(hours=1)
"""Ticks missed while Temporal was unreachable are caught up for this long, no longer: after an outage
one late scan is useful, a day's backlog of scans is not."""

T = TypeVar("T")


class ScheduleExistsError(RuntimeError):
    pass


class ScheduleNotFoundError(LookupError):
    pass


class InvalidScheduleError(ValueError):
    """Temporal refused the schedule's spec (e.g. a cron field out of range); the message says why."""


def temporal_schedule_id(schedule_id: str, owner: str | None = None) -> str:
    """A customer's schedules live under the customer (`optiinfra/scan/acme/nightly`), so two customers
    may both have a `nightly` and neither learns of the other's; fleet-wide ones directly under the prefix."""
    return f"{SCAN_SCHEDULE_PREFIX}{owner}/{schedule_id}" if owner else f"{SCAN_SCHEDULE_PREFIX}{schedule_id}"


def scan_workflow_id(schedule_id: str, owner: str | None = None) -> str:
    """The scans' workflow id; Temporal appends each tick's time, e.g. `scan/nightly-2026-11-22T02:00:00Z`
    (`scan/acme/nightly-...` for a customer's)."""
    return f"scan/{owner}/{schedule_id}" if owner else f"scan/{schedule_id}"


def scan_schedule(spec: ScanScheduleSpec, settings: Settings) -> Schedule:
    scope = f"customer {spec.customer_id}" if spec.customer_id else "every customer"
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FleetScanWorkflow.run,
            FleetScanRequest(customer_id=spec.customer_id, agents=spec.agents, timing=timing_from(settings)),
            id=scan_workflow_id(spec.schedule_id, spec.customer_id),
            task_queue=settings.temporal_task_queue,
            static_summary=f"fleet scan {spec.schedule_id} of {scope}",
        ),
        spec=ScheduleSpec(cron_expressions=list(spec.cron), time_zone_name=spec.timezone),
        # A scan only starts joint runs and ends; should one hang, the next tick must not pile up beside it.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=SCAN_CATCHUP_WINDOW),
        state=ScheduleState(note=spec.note or None),
    )


async def create_scan_schedule(
    *, client: Client, settings: Settings, spec: ScanScheduleSpec
) -> ScanScheduleView:
    """Create the schedule; its first scan starts at the first cron time from now."""
    schedule_id = temporal_schedule_id(spec.schedule_id, spec.customer_id)
    try:
        handle = await client.create_schedule(
            schedule_id, scan_schedule(spec, settings), memo={SPEC_MEMO_KEY: spec.model_dump(mode="json")}
        )
    except ScheduleAlreadyRunningError as error:
        raise ScheduleExistsError(f"schedule {spec.schedule_id} already exists") from error
    except RPCError as error:
        if error.status is RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidScheduleError(error.message) from error
        raise
    return await _view(await handle.describe())


async def list_scan_schedules(*, client: Client) -> list[ScanScheduleView]:
    """Every fleet-scan schedule (other schedules, e.g. metrics collection, are left out), by id. The
    list comes from Temporal's visibility store, so a schedule created a moment ago may be missing."""
    ids: list[str] = []
    async for listed in await client.list_schedules():
        if listed.id.startswith(SCAN_SCHEDULE_PREFIX):
            ids.append(listed.id)
    views: list[ScanScheduleView] = []
    for schedule_id in sorted(ids):
        try:
            views.append(await _view(await client.get_schedule_handle(schedule_id).describe()))
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:  # deleted since it was listed
                raise
    return views


async def describe_scan_schedule(
    *, client: Client, schedule_id: str, owner: str | None = None
) -> ScanScheduleView:
    """`owner`: the customer whose schedule it is; None for a fleet-wide one."""
    return await _view(await _describe(_handle(client, schedule_id, owner), schedule_id))


async def pause_scan_schedule(
    *, client: Client, schedule_id: str, note: str | None = None, owner: str | None = None
) -> ScanScheduleView:
    """Stop starting scans until unpaused; scans already started go on."""
    handle = _handle(client, schedule_id, owner)
    await _call(handle.pause(note=note or "paused through OptiInfra"), schedule_id)
    return await _view(await _describe(handle, schedule_id))


async def unpause_scan_schedule(
    *, client: Client, schedule_id: str, note: str | None = None, owner: str | None = None
) -> ScanScheduleView:
    handle = _handle(client, schedule_id, owner)
    await _call(handle.unpause(note=note or "unpaused through OptiInfra"), schedule_id)
    return await _view(await _describe(handle, schedule_id))


async def delete_scan_schedule(*, client: Client, schedule_id: str, owner: str | None = None) -> None:
    """Remove the schedule; scans and joint runs it already started go on."""
    await _call(_handle(client, schedule_id, owner).delete(), schedule_id)


def _handle(client: Client, schedule_id: str, owner: str | None) -> ScheduleHandle:
    return client.get_schedule_handle(temporal_schedule_id(schedule_id, owner))


async def _call(operation: Awaitable[T], schedule_id: str) -> T:
    try:
        return await operation
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFoundError(f"no schedule {schedule_id}") from error
        raise


async def _describe(handle: ScheduleHandle, schedule_id: str) -> ScheduleDescription:
    return await _call(handle.describe(), schedule_id)


async def _view(described: ScheduleDescription) -> ScanScheduleView:
    schedule_id = described.id.removeprefix(SCAN_SCHEDULE_PREFIX).rsplit("/", 1)[-1]
    spec: ScanScheduleSpec | None = await described.memo_value(
        SPEC_MEMO_KEY, None, type_hint=ScanScheduleSpec
    )
    state = described.schedule.state
    return ScanScheduleView(
        schedule_id=schedule_id,
        temporal_schedule_id=described.id,
        # A schedule made without OptiInfra's memo shows what Temporal keeps of it.
        cron=spec.cron if spec else list(described.schedule.spec.cron_expressions),
        timezone=spec.timezone if spec else (described.schedule.spec.time_zone_name or "UTC"),
        customer_id=spec.customer_id if spec else None,
        agents=spec.agents if spec else list(ALL_AGENTS),
        note=spec.note if spec else "",
        paused=state.paused,
        pause_note=None if spec is not None and state.note == (spec.note or None) else state.note,
        next_action_times=list(described.info.next_action_times),
        recent_runs=_runs(described.info.recent_actions),
    )


def _runs(actions: Sequence[ScheduleActionResult]) -> list[ScanRun]:
    return [
        ScanRun(
            scheduled_at=action.scheduled_at,
            started_at=action.started_at,
            workflow_id=action.action.workflow_id,
            run_id=action.action.first_execution_run_id,
        )
        for action in actions
        if isinstance(action.action, ScheduleActionExecutionStartWorkflow)
    ]
