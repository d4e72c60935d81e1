from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from api.deps import (
    Operator,
    SessionsDep,
    SettingsDep,
    TemporalDep,
    Viewer,
    require_customer,
    scoped_customer,
)
from api.errors import CONFLICT, NOT_FOUND, StrictJSONRoute
from api.schemas import Page, PageQuery, ScheduleCreate, SchedulePauseBody
from optiinfra.access.principal import Principal
from optiinfra.control.schedule_spec import SCHEDULE_ID_PATTERN, ScanScheduleSpec, ScanScheduleView
from optiinfra.control.schedules import (
    InvalidScheduleError,
    ScheduleExistsError,
    ScheduleNotFoundError,
    create_scan_schedule,
    delete_scan_schedule,
    describe_scan_schedule,
    list_scan_schedules,
    pause_scan_schedule,
    unpause_scan_schedule,
)
from optiinfra.store import repository

router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=StrictJSONRoute)

ScheduleId = Annotated[str, Path(pattern=SCHEDULE_ID_PATTERN, description="e.g. nightly")]
OwnerQuery = Annotated[
    str | None,
    Query(
        pattern=SCHEDULE_ID_PATTERN,
        description="Whose schedule (a platform admin's choice; a customer's principal always its own)",
    ),
]


def _visible(view: ScanScheduleView, principal: Principal) -> bool:
    """A customer's schedules are its own principals'; fleet-wide ones (no customer) a platform admin's."""
    if view.customer_id is None:
        return principal.customer_id is None
    return principal.can_act_on(view.customer_id)


async def _owned(
    client: TemporalDep, schedule_id: str, principal: Principal, customer_id: str | None
) -> ScanScheduleView:
    """The schedule `schedule_id` names for this principal: its own customer's for a customer's principal;
    for a platform admin the named customer's, or the fleet-wide one when it names none."""
    try:
        view = await describe_scan_schedule(
            client=client, schedule_id=schedule_id, owner=scoped_customer(principal, customer_id)
        )
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    if not _visible(view, principal):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no schedule {schedule_id}")
    return view


async def _audit(
    sessions: SessionsDep,
    principal: Principal,
    action: str,
    before: ScanScheduleView | None,
    after: ScanScheduleView | None,
) -> None:
    view = after or before
    assert view is not None
    async with sessions.begin() as session:
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action=action,
            subject=f"schedule:{view.schedule_id}",
            customer_id=view.customer_id,
            detail={},
            before=None
            if before is None
            else before.model_dump(exclude={"next_action_times", "recent_runs"}),
            after=None if after is None else after.model_dump(exclude={"next_action_times", "recent_runs"}),
        )


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT)
async def create_schedule(
    body: ScheduleCreate,
    client: TemporalDep,
    settings: SettingsDep,
    sessions: SessionsDep,
    principal: Operator,
) -> ScanScheduleView:
    """Create a fleet-scan schedule: at each cron time a FleetScanWorkflow starts a joint optimization
    of every workload (of `customer_id`, when given; a customer's principal always scans its own). 409 if
    the id is taken, 422 for a cron expression or time zone Temporal cannot use (the reason is in
    `detail`). Audited."""
    spec = ScanScheduleSpec.model_validate(body.model_dump())
    if principal.customer_id is not None:
        require_customer(principal, spec.customer_id or principal.customer_id)
        spec = spec.model_copy(update={"customer_id": principal.customer_id})
    try:
        view = await create_scan_schedule(client=client, settings=settings, spec=spec)
    except ScheduleExistsError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    except InvalidScheduleError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    await _audit(sessions, principal, "schedule.created", None, view)
    return view


@router.get("")
async def list_schedules(client: TemporalDep, principal: Viewer, paging: PageQuery) -> Page[ScanScheduleView]:
    """The fleet-scan schedules the principal may see, by id."""
    visible = [view for view in await list_scan_schedules(client=client) if _visible(view, principal)]
    return Page.of(visible[paging.offset : paging.offset + paging.limit], len(visible), paging)


@router.get("/{schedule_id}", responses=NOT_FOUND)
async def get_schedule(
    schedule_id: ScheduleId, client: TemporalDep, principal: Viewer, customer_id: OwnerQuery = None
) -> ScanScheduleView:
    """One schedule: its spec, whether it is paused, its next times and the scans it started lately."""
    return await _owned(client, schedule_id, principal, customer_id)


@router.post("/{schedule_id}/pause", responses=NOT_FOUND)
async def pause_schedule(
    schedule_id: ScheduleId,
    client: TemporalDep,
    sessions: SessionsDep,
    principal: Operator,
    body: SchedulePauseBody | None = None,
    customer_id: OwnerQuery = None,
) -> ScanScheduleView:
    """Start no more scans until unpaused; scans already started go on. Audited."""
    before = await _owned(client, schedule_id, principal, customer_id)
    try:
        after = await pause_scan_schedule(
            client=client,
            schedule_id=schedule_id,
            note=body.note if body else None,
            owner=before.owner,
        )
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    await _audit(sessions, principal, "schedule.paused", before, after)
    return after


@router.post("/{schedule_id}/unpause", responses=NOT_FOUND)
async def unpause_schedule(
    schedule_id: ScheduleId,
    client: TemporalDep,
    sessions: SessionsDep,
    principal: Operator,
    body: SchedulePauseBody | None = None,
    customer_id: OwnerQuery = None,
) -> ScanScheduleView:
    """Start scans at the cron times again (missed times are not made up). Audited."""
    before = await _owned(client, schedule_id, principal, customer_id)
    try:
        after = await unpause_scan_schedule(
            client=client,
            schedule_id=schedule_id,
            note=body.note if body else None,
            owner=before.owner,
        )
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    await _audit(sessions, principal, "schedule.unpaused", before, after)
    return after


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_schedule(
    schedule_id: ScheduleId,
    client: TemporalDep,
    sessions: SessionsDep,
    principal: Operator,
    customer_id: OwnerQuery = None,
) -> Response:
    """Remove the schedule; scans and joint optimizations it started go on. Audited."""
    before = await _owned(client, schedule_id, principal, customer_id)
    try:
        await delete_scan_schedule(client=client, schedule_id=schedule_id, owner=before.owner)
    except ScheduleNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    await _audit(sessions, principal, "schedule.deleted", before, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
