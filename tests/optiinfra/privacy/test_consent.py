"""Each customer's tier: tier 1 until changed, every change recorded with who, when and why, and audited;
leaving tier 3 deletes the customer's stored prompt content."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.privacy import consent
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.errors import UnknownCustomerError
from optiinfra.privacy.tier3 import store_prompt_contents
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository
from optiinfra.store.tables import utc_now
from tests.optiinfra.privacy import data

Sessions = async_sessionmaker[AsyncSession]


async def _setting(sessions: Sessions, customer_id: str = "acme") -> consent.PrivacySetting:
    async with sessions() as session:
        return await consent.get_privacy_setting(session=session, customer_id=customer_id)


async def _store_prompts(sessions: Sessions, cipher: PromptCipher, customer_id: str) -> None:
    async with sessions.begin() as session:
        await store_prompt_contents(
            session=session,
            cipher=cipher,
            customer_id=customer_id,
            workload_id="chat",
            contents=data.prompts(),
            actor="ingest",
        )


async def test_a_customer_is_in_tier_1_until_someone_changes_it(sessions: Sessions) -> None:
    assert await _setting(sessions) == consent.PrivacySetting(
        customer_id="acme", tier=PrivacyTier.METRICS_ONLY
    )
    async with sessions() as session:
        assert await consent.current_tier(session=session, customer_id="acme") is PrivacyTier.METRICS_ONLY


async def test_a_change_records_who_when_and_why_and_is_audited(sessions: Sessions) -> None:
    before = utc_now()
    async with sessions.begin() as session:
        returned = await consent.set_privacy_tier(
            session=session,
            customer_id="acme",
            tier=PrivacyTier.CONTENT,
            changed_by="jane@acme.example",
            reason="DPA signed 2026-02-27",
        )
    stored = await _setting(sessions)
    assert stored == returned
    assert (stored.tier, stored.changed_by, stored.reason) == (
        PrivacyTier.CONTENT,
        "jane@acme.example",
        "DPA signed 2026-02-27",
    )
    assert stored.changed_at is not None
    assert before <= stored.changed_at <= utc_now() + timedelta(seconds=1)

    async with sessions() as session:
        audit = await repository.list_audit(session=session, subject="acme")
    assert [(e.actor, e.action, e.detail) for e in audit] == [
        ("jane@acme.example", "privacy_tier.changed", {"from": 1, "to": 3, "reason": "DPA signed 2026-02-27"})
    ]


async def test_the_tier_of_one_customer_is_its_own(sessions: Sessions) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.AGGREGATES)
    assert (await _setting(sessions, "globex")).tier is PrivacyTier.METRICS_ONLY
    assert (await _setting(sessions, "acme")).tier is PrivacyTier.AGGREGATES


async def test_unknown_customers_and_anonymous_changes_are_refused(sessions: Sessions) -> None:
    with pytest.raises(UnknownCustomerError, match="unknown customer ghost"):
        await _setting(sessions, "ghost")
    with pytest.raises(UnknownCustomerError):
        await data.set_tier(sessions, "ghost", PrivacyTier.AGGREGATES)
    with pytest.raises(ValueError, match="changed_by"):
        await data.set_tier(sessions, "acme", PrivacyTier.AGGREGATES, who="  ")
    assert (await _setting(sessions)).tier is PrivacyTier.METRICS_ONLY


@pytest.mark.parametrize("lower", [PrivacyTier.AGGREGATES, PrivacyTier.METRICS_ONLY])
async def test_leaving_tier_3_deletes_the_customers_prompt_content(
    sessions: Sessions, cipher: PromptCipher, lower: PrivacyTier
) -> None:
    for customer_id in ("acme", "globex"):
        await data.set_tier(sessions, customer_id, PrivacyTier.CONTENT)
        await _store_prompts(sessions, cipher, customer_id)
    assert await data.count_rows(sessions, "prompt_vault") == 4

    await data.set_tier(sessions, "acme", lower, who="jane@acme.example")

    assert await data.count_rows(sessions, "prompt_vault") == 2  # globex's are kept
    async with sessions() as session:
        audit = await repository.list_audit(session=session, subject="acme")
    deleted = [entry for entry in audit if entry.action == "prompt_content.deleted"]
    assert [(e.actor, e.detail) for e in deleted] == [
        (
            "jane@acme.example",
            {"prompts": 2, "reason": f"privacy tier lowered from 3 to {lower.value}"},
        )
    ]


async def test_staying_in_tier_3_keeps_the_content(sessions: Sessions, cipher: PromptCipher) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _store_prompts(sessions, cipher, "acme")
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT, who="legal@acme.example")
    assert await data.count_rows(sessions, "prompt_vault") == 2
    assert (await _setting(sessions)).changed_by == "legal@acme.example"


async def test_a_tier_change_waits_for_a_content_write_in_progress(
    sessions: Sessions, cipher: PromptCipher
) -> None:
    """A write that checked tier 3 holds the customer's row until it commits, so a concurrent change
    away from tier 3 runs after it and deletes what it wrote: no content outlives the consent."""
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    written = asyncio.Event()
    release = asyncio.Event()

    async def slow_write() -> None:
        async with sessions.begin() as session:
            await store_prompt_contents(
                session=session,
                cipher=cipher,
                customer_id="acme",
                workload_id="chat",
                contents=data.prompts(),
                actor="ingest",
            )
            written.set()
            await release.wait()

    async def lower() -> None:
        await written.wait()
        await data.set_tier(sessions, "acme", PrivacyTier.METRICS_ONLY)

    writer = asyncio.create_task(slow_write())
    changer = asyncio.create_task(lower())
    await written.wait()
    await asyncio.sleep(0.3)
    assert not changer.done()  # blocked behind the writer's lock
    release.set()
    await asyncio.gather(writer, changer)
    assert await data.count_rows(sessions, "prompt_vault") == 0
