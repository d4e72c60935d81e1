"""Small valid inputs of each tier, and the store operations the tests repeat."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.privacy import consent
from optiinfra.privacy.aggregates import PromptPart, PromptStructure, RagRetrievalStats
from optiinfra.privacy.records import RequestError, TokenRecord
from optiinfra.privacy.tier3 import PromptContent
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store.tables import Base

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

# Distinctive strings, so finding any of them anywhere means prompt text leaked.
SECRET_PROMPTS = (
    "Summarise the Zephyrine Holdings merger memo for the board",
    "Draft a reply to Ottoline about her overdue invoice 4471",
)
SECRET_COMPLETION = "The Zephyrine merger closes on the ninth of Quintember"
SECRET_WORDS = ("Zephyrine", "Ottoline", "Quintember", "merger", "invoice")

Sessions = async_sessionmaker[AsyncSession]


def token_record(minutes: int, **changes: object) -> TokenRecord:
    values: dict[str, object] = {
        "at": T0 + timedelta(minutes=minutes),
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "request_type": "support-chat",
        "context_tokens": 1200 + minutes,
        "generated_tokens": 180,
        "latency_s": 2.5,
        "ttft_s": 0.3,
    }
    return TokenRecord.model_validate({**values, **changes})


def failed_record(minutes: int) -> TokenRecord:
    return token_record(minutes, error=RequestError.CONTEXT_OVERFLOW, generated_tokens=0, latency_s=None)


def prompts() -> list[PromptContent]:
    return [
        PromptContent(request_ref="req-1", at=T0, prompt=SECRET_PROMPTS[0], completion=SECRET_COMPLETION),
        PromptContent(request_ref="req-2", at=T0 + HOUR, prompt=SECRET_PROMPTS[1]),
    ]


def rag_stats(hour: int = 0, **changes: object) -> RagRetrievalStats:
    values: dict[str, object] = {
        "request_type": "support-chat",
        "period_start": T0 + hour * HOUR,
        "period_end": T0 + (hour + 1) * HOUR,
        "requests": 500,
        "chunk_tokens": 256,
        "mean_chunks_retrieved": 8.0,
        "mean_chunks_used": 2.5,
        "relevance_by_rank": [0.9, 0.7, 0.4],
    }
    return RagRetrievalStats.model_validate({**values, **changes})


def prompt_structure(hour: int = 0) -> PromptStructure:
    return PromptStructure(
        request_type="support-chat",
        period_start=T0 + hour * HOUR,
        period_end=T0 + (hour + 1) * HOUR,
        requests=500,
        shares={PromptPart.SYSTEM: 0.3, PromptPart.RETRIEVED: 0.5, PromptPart.USER: 0.2},
    )


async def set_tier(sessions: Sessions, customer_id: str, tier: PrivacyTier, who: str = "dpo@acme") -> None:
    async with sessions.begin() as session:
        await consent.set_privacy_tier(
            session=session, customer_id=customer_id, tier=tier, changed_by=who, reason="contract"
        )


async def count_rows(sessions: Sessions, table: str) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Base.metadata.tables[table])
        return (await session.execute(query)).scalar_one()
