"""The audit trail: every write, who made it, when, and the state before and after."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionsDep, Viewer, scoped_customer
from api.errors import StrictJSONRoute
from api.schemas import IDENTIFIER, IsoDatetime, Page, PageQuery
from optiinfra.store.repository import AuditEntry, AuditFilter, page_audit

router = APIRouter(prefix="/audit", tags=["audit"], route_class=StrictJSONRoute)


@router.get("")
async def list_audit(
    sessions: SessionsDep,
    principal: Viewer,
    paging: PageQuery,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=255, description="e.g. recommendation.approved")] = None,
    subject: Annotated[str | None, Query(max_length=255, description="e.g. a recommendation id")] = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
) -> Page[AuditEntry]:
    """Newest first. A customer's principal sees its customer's lines only; a platform admin sees every
    line (the platform's own too) unless it names a customer."""
    where = AuditFilter(
        customer_id=scoped_customer(principal, customer_id),
        actor=actor,
        action=action,
        subject=subject,
        since=since,
        until=until,
    )
    async with sessions() as session:
        items, total = await page_audit(
            session=session, where=where, limit=paging.limit, offset=paging.offset
        )
    return Page.of(items, total, paging)
