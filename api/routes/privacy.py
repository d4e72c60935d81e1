"""A customer's privacy tier, and the Application agent's inputs for each tier: request records (every
tier), aggregated statistics (tier 2 and 3) and prompt content (tier 3, stored encrypted, audited)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Admin, Operator, SessionsDep, SettingsDep, Viewer, require_customer
from api.errors import CONFLICT, NOT_FOUND, StrictJSONRoute
from api.schemas import (
    IDENTIFIER,
    Accepted,
    AggregatesBody,
    PrivacyTierBody,
    PromptsBody,
    QualityComparisonsBody,
    RequestLogBody,
)
from optiinfra.access.principal import Principal
from optiinfra.privacy import consent
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.errors import EncryptionKeyError, TierNotAllowedError, UnknownCustomerError
from optiinfra.privacy.tier1 import record_quality_comparisons, record_token_records
from optiinfra.privacy.tier2 import record_aggregates
from optiinfra.privacy.tier3 import PromptContent, store_prompt_contents
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository

router = APIRouter(prefix="/customers", tags=["privacy"], route_class=StrictJSONRoute)

CustomerId = Annotated[str, Path(pattern=IDENTIFIER)]
WorkloadId = Annotated[str, Path(pattern=IDENTIFIER)]
WORKLOAD_PATH = "/{customer_id}/workloads/{workload_id}"


@router.get("/{customer_id}/privacy", responses=NOT_FOUND)
async def get_privacy(
    customer_id: CustomerId, sessions: SessionsDep, principal: Viewer
) -> consent.PrivacySetting:
    """The customer's privacy tier (1 until changed), and who changed it when."""
    require_customer(principal, customer_id)
    with _refusals():
        async with sessions() as session:
            return await consent.get_privacy_setting(session=session, customer_id=customer_id)


@router.put("/{customer_id}/privacy", responses=NOT_FOUND | CONFLICT)
async def put_privacy(
    customer_id: CustomerId,
    body: PrivacyTierBody,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Admin,
) -> consent.PrivacySetting:
    """Change the customer's tier, recording who and when (audited). Tier 3 is refused while the server has
    no valid OPTIINFRA_PROMPT_ENCRYPTION_KEY; leaving tier 3 deletes the customer's stored prompt content.
    The change is recorded as the authenticated principal's; `changed_by` is kept as a display note."""
    require_customer(principal, customer_id)
    with _refusals():
        if body.tier is PrivacyTier.CONTENT:
            PromptCipher.from_settings(settings)
        async with sessions.begin() as session:
            return await consent.set_privacy_tier(
                session=session,
                customer_id=customer_id,
                tier=body.tier,
                changed_by=f"{principal.name} ({body.changed_by})",
                reason=body.reason,
            )


@router.post(f"{WORKLOAD_PATH}/request-log", responses=NOT_FOUND)
async def post_request_log(
    customer_id: CustomerId,
    workload_id: WorkloadId,
    body: RequestLogBody,
    sessions: SessionsDep,
    principal: Operator,
) -> Accepted:
    """Tier-1 request records (every tier). A body whose records carry anything beyond a TokenRecord's
    fields is refused whole (422), so nothing of it is stored."""
    async with sessions.begin() as session:
        await _require_workload(session, principal, customer_id, workload_id)
        accepted = await record_token_records(
            session=session, customer_id=customer_id, workload_id=workload_id, records=body.records
        )
    return Accepted(accepted=accepted)


@router.post(f"{WORKLOAD_PATH}/quality-comparisons", responses=NOT_FOUND)
async def post_quality_comparisons(
    customer_id: CustomerId,
    workload_id: WorkloadId,
    body: QualityComparisonsBody,
    sessions: SessionsDep,
    principal: Operator,
) -> Accepted:
    """A routing quality sample (every tier): each request answered by both models and the cheaper answer
    judged no worse or worse. The Application agent reads a month of them; a route whose worse share is
    within its bound at 95% confidence is confirmed and its savings count. Refused whole on a bad record."""
    async with sessions.begin() as session:
        await _require_workload(session, principal, customer_id, workload_id)
        accepted = await record_quality_comparisons(
            session=session, customer_id=customer_id, workload_id=workload_id, comparisons=body.comparisons
        )
    return Accepted(accepted=accepted)


@router.post(f"{WORKLOAD_PATH}/aggregates", responses=NOT_FOUND | CONFLICT)
async def post_aggregates(
    customer_id: CustomerId,
    workload_id: WorkloadId,
    body: AggregatesBody,
    sessions: SessionsDep,
    principal: Operator,
) -> Accepted:
    """Aggregated statistics (tier 2 and 3; 403 otherwise). A kind, request type and period sent again
    replaces what was stored for it."""
    with _refusals():
        async with sessions.begin() as session:
            await _require_workload(session, principal, customer_id, workload_id)
            accepted = await record_aggregates(
                session=session,
                customer_id=customer_id,
                workload_id=workload_id,
                aggregates=[*body.rag_retrieval, *body.prompt_structure],
            )
    return Accepted(accepted=accepted)


@router.post(f"{WORKLOAD_PATH}/prompts", responses=NOT_FOUND | CONFLICT)
async def post_prompts(
    customer_id: CustomerId,
    workload_id: WorkloadId,
    body: PromptsBody,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Operator,
) -> Accepted:
    """Prompt and completion text (tier 3 only; 403 otherwise), encrypted before it is stored; audited.
    A request_ref sent again replaces its content."""
    with _refusals():
        async with sessions.begin() as session:
            await _require_workload(session, principal, customer_id, workload_id)
            await consent.require_tier(
                session=session,
                customer_id=customer_id,
                needed=PrivacyTier.CONTENT,
                what="storing prompt content",
            )
            accepted = await store_prompt_contents(
                session=session,
                cipher=PromptCipher.from_settings(settings),
                customer_id=customer_id,
                workload_id=workload_id,
                contents=[PromptContent.model_validate(item.model_dump()) for item in body.items],
                actor=principal.name,
            )
    return Accepted(accepted=accepted)


async def _require_workload(
    session: AsyncSession, principal: Principal, customer_id: str, workload_id: str
) -> None:
    require_customer(principal, customer_id)
    if await repository.get_customer(session=session, customer_id=customer_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown customer {customer_id}")
    if (
        await repository.get_workload(session=session, customer_id=customer_id, workload_id=workload_id)
        is None
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown workload {customer_id}/{workload_id}")


@contextmanager
def _refusals() -> Iterator[None]:
    """Privacy refusals as HTTP errors: unknown customer 404, tier too low 403, no usable key 409."""
    try:
        yield
    except UnknownCustomerError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except TierNotAllowedError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(error)) from error
    except EncryptionKeyError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
