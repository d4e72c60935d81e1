from fastapi import APIRouter, HTTPException, status

from api.deps import SessionsDep, TemporalDep
from api.schemas import (
    DecisionAccepted,
    DecisionBody,
    RecommendationDetail,
    RecommendationItem,
    RecommendationList,
)
from optiinfra.control.optimizations import NotAwaitingDecisionError, RecommendationNotFoundError, decide
from optiinfra.domain.enums import DecisionKind, RecommendationStatus
from optiinfra.store import repository

router = APIRouter(prefix="/recommendations", tags=["recommendations"])


@router.get("")
async def list_recommendations(
    sessions: SessionsDep, status: RecommendationStatus | None = None, customer_id: str | None = None
) -> RecommendationList:
    async with sessions() as session:
        found = await repository.list_recommendations(session=session, status=status, customer_id=customer_id)
    return RecommendationList(items=[RecommendationItem.of(r) for r in found])


@router.get("/{recommendation_id}")
async def get_recommendation(recommendation_id: str, sessions: SessionsDep) -> RecommendationDetail:
    async with sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=recommendation_id
        )
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recommendation {recommendation_id}")
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


async def _decide(
    recommendation_id: str,
    body: DecisionBody,
    decision: DecisionKind,
    client: TemporalDep,
    sessions: SessionsDep,
) -> DecisionAccepted:
    try:
        recommendation = await decide(
            client=client,
            sessions=sessions,
            recommendation_id=recommendation_id,
            decision=decision,
            approver=body.approver,
            reason=body.reason,
        )
    except RecommendationNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except NotAwaitingDecisionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    return DecisionAccepted(
        recommendation_id=recommendation_id, workflow_id=recommendation.workflow_id, decision=decision.value
    )


@router.post("/{recommendation_id}/approve", status_code=status.HTTP_202_ACCEPTED)
async def approve(
    recommendation_id: str, body: DecisionBody, client: TemporalDep, sessions: SessionsDep
) -> DecisionAccepted:
    """Send the `approve` signal; 409 when the recommendation is not waiting for a decision."""
    return await _decide(recommendation_id, body, DecisionKind.APPROVE, client, sessions)


@router.post("/{recommendation_id}/reject", status_code=status.HTTP_202_ACCEPTED)
async def reject(
    recommendation_id: str, body: DecisionBody, client: TemporalDep, sessions: SessionsDep
) -> DecisionAccepted:
    """Send the `reject` signal; 409 when the recommendation is not waiting for a decision."""
    return await _decide(recommendation_id, body, DecisionKind.REJECT, client, sessions)
