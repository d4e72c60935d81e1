"""Measured capacity profiles: what `optiinfra profile import` sends, and what the agents size on first."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from api.deps import Operator, SessionsDep, Viewer, require_customer
from api.errors import NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER, Page, PageQuery
from optiinfra.domain.capacity_profiles import CapacityProfile
from optiinfra.store import repository
from optiinfra.store.capacity_profiles import page_capacity_profiles, save_capacity_profile

router = APIRouter(prefix="/capacity-profiles", tags=["capacity"], route_class=StrictJSONRoute)


class StoredProfile(BaseModel):
    profile_id: str
    points: int


@router.post("", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def post_capacity_profile(
    profile: CapacityProfile, sessions: SessionsDep, principal: Operator
) -> StoredProfile:
    """Store a profile for a customer's workload, or for all its workloads on that GPU x model x TP when
    `workload_id` is empty. Importing the same profile twice stores it once. Audited."""
    require_customer(principal, profile.customer_id)
    async with sessions.begin() as session:
        if await repository.get_customer(session=session, customer_id=profile.customer_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {profile.customer_id}")
        if profile.workload_id is not None and (
            await repository.get_workload(
                session=session, customer_id=profile.customer_id, workload_id=profile.workload_id
            )
            is None
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown workload {profile.workload_id}")
        profile_id = await save_capacity_profile(session=session, profile=profile)
        await repository.append_audit(
            session=session,
            actor=principal.name,
            action="capacity_profile.imported",
            subject=f"profile:{profile_id}",
            customer_id=profile.customer_id,
            detail={"workload_id": profile.workload_id, "gpu": profile.gpu, "model": profile.model},
        )
    return StoredProfile(profile_id=profile_id, points=len(profile.points))


@router.get("")
async def get_capacity_profiles(
    sessions: SessionsDep,
    principal: Viewer,
    paging: PageQuery,
    customer_id: Annotated[str, Query(pattern=IDENTIFIER)],
    workload_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
) -> Page[CapacityProfile]:
    """The customer's profiles, newest first; with `workload_id`, those the workload's sizing may use."""
    require_customer(principal, customer_id)
    async with sessions() as session:
        items, total = await page_capacity_profiles(
            session=session,
            customer_id=customer_id,
            workload_id=workload_id,
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page.of(items, total, paging)
