from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from api.deps import SettingsDep, TemporalDep
from api.schemas import ScheduleCreate, ScheduleList, SchedulePauseBody
from optiinfra.control.schedules import (
    SCHEDULE_ID_PATTERN,
    InvalidScheduleError,
    ScanScheduleSpec,
    ScanScheduleView,
    ScheduleExistsError,
    ScheduleNotFoundError,
    create_scan_schedule,
    delete_scan_schedule,
    describe_scan_schedule,
    list_scan_schedules,
    pause_scan_schedule,
    unpause_scan_schedule,
)

router = APIRouter(prefix="/schedules", tags=["schedules"])

ScheduleId = Annotated[str, Path(pattern=SCHEDULE_ID_PATTERN, description="e.g. nightly")]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_schedule(
    body: ScheduleCreate, client: TemporalDep, settings: SettingsDep
) -> ScanScheduleView:
    """Create a fleet-scan schedule: at each cron time a FleetScanWorkflow starts a joint optimization
    of every workload (of `customer_id`, when given). 409 if the id is taken, 422 for a cron expression
    or time zone Temporal cannot use (the reason is in `detail`)."""
    spec = ScanScheduleSpec.model_validate(body.model_dump())
    try:
        return await create_scan_schedule(client=client, settings=settings, spec=spec)
    except ScheduleExistsError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    except InvalidScheduleError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error


@router.get("")
async def list_schedules(client: TemporalDep) -> ScheduleList:
    """The fleet-scan schedules, by id."""
    return ScheduleList(items=await list_scan_schedules(client=client))


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: ScheduleId, client: TemporalDep) -> ScanScheduleView:
    """One schedule: its spec, whether it is paused, its next times and the scans it started lately."""
    try:
        return await describe_scan_schedule(client=client, schedule_id=schedule_id)
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error


@router.post("/{schedule_id}/pause")
async def pause_schedule(
    schedule_id: ScheduleId, client: TemporalDep, body: SchedulePauseBody | None = None
) -> ScanScheduleView:
    """Start no more scans until unpaused; scans already started go on."""
    try:
        return await pause_scan_schedule(
            client=client, schedule_id=schedule_id, note=body.note if body else None
        )
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error


@router.post("/{schedule_id}/unpause")
async def unpause_schedule(
    schedule_id: ScheduleId, client: TemporalDep, body: SchedulePauseBody | None = None
) -> ScanScheduleView:
    """Start scans at the cron times again (missed times are not made up)."""
    try:
        return await unpause_scan_schedule(
            client=client, schedule_id=schedule_id, note=body.note if body else None
        )
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(schedule_id: ScheduleId, client: TemporalDep) -> Response:
    """Remove the schedule; scans and joint optimizations it started go on."""
    try:
        await delete_scan_schedule(client=client, schedule_id=schedule_id)
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    return Response(status_code=status.HTTP_204_NO_CONTENT)
