from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import Approver, SessionsDep, SettingsDep, TemporalDep, Viewer, scoped_customer
from api.errors import CONFLICT, NOT_FOUND, RETRY_AFTER_S, StrictJSONRoute
from api.responses import DecisionAccepted, RecommendationDetail, RecommendationItem
from api.schemas import IDENTIFIER, DecisionBody, Page, PageQuery
from optiinfra.access.principal import Principal
from optiinfra.control.optimizations import (
    DecisionUnconfirmedError,
    NotAwaitingDecisionError,
    RecommendationNotFoundError,
    decide,
)
from optiinfra.control.preview import PreviewUnavailableError, preview_recommendation
from optiinfra.domain.enums import AgentKind, DecisionKind, RecommendationStatus, RiskLevel
from optiinfra.domain.preview import RecommendationPreview
from optiinfra.store import repository

router = APIRouter(prefix="/recommendations", tags=["recommendations"], route_class=StrictJSONRoute)


@router.get("")
async def list_recommendations(
    sessions: SessionsDep,
    principal: Viewer,
    paging: PageQuery,
    status: RecommendationStatus | None = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    workload_id: Annotated[str | None, Query(pattern=IDENTIFIER)] = None,
    agent: AgentKind | None = None,
    risk_level: RiskLevel | None = None,
) -> Page[RecommendationItem]:
    """Newest first, narrowed by every filter given; a customer's principal sees its own customer's only."""
    async with sessions() as session:
        found, total = await repository.page_recommendations(
            session=session,
            status=status,
            customer_id=scoped_customer(principal, customer_id),
            workload_id=workload_id,
            agent=agent,
            risk_level=risk_level,
            limit=paging.limit,
            offset=paging.offset,
        )
    return Page.of([RecommendationItem.of(r) for r in found], total, paging)


def _not_found(recommendation_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recommendation {recommendation_id}")


@router.get("/{recommendation_id}", responses=NOT_FOUND)
async def get_recommendation(
    recommendation_id: str, sessions: SessionsDep, principal: Viewer
) -> RecommendationDetail:
    async with sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=recommendation_id
        )
        if record is None or not principal.can_act_on(record.recommendation.customer_id):
            raise _not_found(recommendation_id)
        results = await repository.list_step_results(session=session, recommendation_id=recommendation_id)
    found = record.recommendation
    return RecommendationDetail(
        **RecommendationItem.of(found).model_dump(),
        steps=found.steps,
        evidence=found.evidence,
        status_reason=record.status_reason,
        approval=record.approval,
        step_results=results,
        outcome=record.outcome,
        updated_at=record.updated_at,
    )


@router.get("/{recommendation_id}/preview", responses=NOT_FOUND)
async def preview(
    recommendation_id: str,
    client: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Viewer,
) -> RecommendationPreview:
    """What approving would change, against the workload's objects read now by a worker: each step's
    target now and after, whether it still fits (else the run stops as superseded), and its compensation.
    503 with Retry-After when no worker reads the workload within 30 s."""
    async with sessions() as session:
        found = await repository.get_recommendation(session=session, recommendation_id=recommendation_id)
    if found is None or not principal.can_act_on(found.customer_id):
        raise _not_found(recommendation_id)
    try:
        return await preview_recommendation(client=client, settings=settings, recommendation=found)
    except PreviewUnavailableError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=str(error),
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from error


async def _decide(
    recommendation_id: str,
    body: DecisionBody,
    decision: DecisionKind,
    principal: Principal,
    client: TemporalDep,
    sessions: SessionsDep,
) -> DecisionAccepted:
    async with sessions() as session:
        found = await repository.get_recommendation(session=session, recommendation_id=recommendation_id)
    if found is None or not principal.can_act_on(found.customer_id):
        raise _not_found(recommendation_id)
    try:
        recommendation = await decide(
            client=client,
            sessions=sessions,
            recommendation_id=recommendation_id,
            decision=decision,
            approver=principal.name,
            reason=body.reason,
            note=body.approver,
        )
    except RecommendationNotFoundError as error:
        raise _not_found(recommendation_id) from error
    except NotAwaitingDecisionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    except DecisionUnconfirmedError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=str(error),
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from error
    return DecisionAccepted(
        recommendation_id=recommendation_id, workflow_id=recommendation.workflow_id, decision=decision.value
    )


@router.post(
    "/{recommendation_id}/approve", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND | CONFLICT
)
async def approve(
    recommendation_id: str,
    body: DecisionBody,
    principal: Approver,
    client: TemporalDep,
    sessions: SessionsDep,
) -> DecisionAccepted:
    """Approve, as the authenticated principal. Exactly one decision wins: every other attempt, concurrent
    or late, gets 409 naming the decision that won."""
    return await _decide(recommendation_id, body, DecisionKind.APPROVE, principal, client, sessions)


@router.post(
    "/{recommendation_id}/reject", status_code=status.HTTP_202_ACCEPTED, responses=NOT_FOUND | CONFLICT
)
async def reject(
    recommendation_id: str,
    body: DecisionBody,
    principal: Approver,
    client: TemporalDep,
    sessions: SessionsDep,
) -> DecisionAccepted:
    """Reject, as the authenticated principal; 409 when another decision won or none is awaited."""
    return await _decide(recommendation_id, body, DecisionKind.REJECT, principal, client, sessions)
