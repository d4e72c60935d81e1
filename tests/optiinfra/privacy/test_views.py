"""What each tier's view reads, and what each tier's writer stores: request records for every customer,
aggregates from tier 2, and prompt content from tier 3, encrypted at rest and audited on every access."""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.application import ApplicationActivities
from optiinfra.domain.application import TOKEN_BIN_UPPER
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.errors import (
    EncryptionKeyError,
    PrivacyError,
    TierNotAllowedError,
    UnknownCustomerError,
)
from optiinfra.privacy.records import QualityComparison, QualityVerdict
from optiinfra.privacy.tier1 import Tier1View, record_quality_comparisons, record_token_records
from optiinfra.privacy.tier2 import Tier2View, record_aggregates
from optiinfra.privacy.tier3 import PromptContent, Tier3View, store_prompt_contents
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.privacy.views import open_view
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.tables import PromptVaultRow, WorkloadRow
from tests.optiinfra.privacy import data

Sessions = async_sessionmaker[AsyncSession]
DAY = timedelta(days=1)


async def _record(sessions: Sessions, customer_id: str, workload_id: str, minutes: list[int]) -> None:
    async with sessions.begin() as session:
        accepted = await record_token_records(
            session=session,
            customer_id=customer_id,
            workload_id=workload_id,
            records=[data.token_record(m) for m in minutes],
        )
    assert accepted == len(minutes)


async def _store_prompts(
    sessions: Sessions, cipher: PromptCipher, contents: list[PromptContent], workload_id: str = "chat"
) -> int:
    async with sessions.begin() as session:
        return await store_prompt_contents(
            session=session,
            cipher=cipher,
            customer_id="acme",
            workload_id=workload_id,
            contents=contents,
            actor="ingest-pipeline",
        )


# Tier 1


async def test_tier_1_reads_one_workloads_records_in_a_half_open_window(sessions: Sessions) -> None:
    await _record(sessions, "acme", "chat", [30, 0, 60, 120])
    await _record(sessions, "acme", "batch", [10])
    await _record(sessions, "globex", "chat", [20])
    async with sessions.begin() as session:
        await record_token_records(
            session=session, customer_id="acme", workload_id="chat", records=[data.failed_record(90)]
        )
    view = Tier1View(customer_id="acme", sessions=sessions)

    records = await view.token_records("chat", data.T0, data.T0 + timedelta(minutes=120))

    assert records == [
        data.token_record(0),
        data.token_record(30),
        data.token_record(60),
        data.failed_record(90),
    ]
    assert records[-1].total_tokens == records[-1].context_tokens
    assert await view.token_records("chat", data.T0 + DAY, data.T0 + 2 * DAY) == []
    with pytest.raises(ValueError, match="before it starts"):
        await view.token_records("chat", data.T0, data.T0 - DAY)


async def test_the_application_profile_carries_the_workloads_quality_sample(sessions: Sessions) -> None:
    await _record(sessions, "acme", "chat", [0, 30, 60])
    sample = [
        QualityComparison(
            at=data.T0 + timedelta(minutes=minute),
            request_type="support-chat",
            context_tokens=1200,
            cheap_model="meta-llama/Llama-3.2-3B-Instruct",
            verdict=verdict,
        )
        for minute, verdict in [(5, QualityVerdict.NO_WORSE), (6, QualityVerdict.WORSE)]
    ]
    stale = sample[0].model_copy(update={"at": data.T0 - timedelta(days=40)})
    for workload_id, comparisons in [("chat", [*sample, stale]), ("batch", sample)]:
        async with sessions.begin() as session:
            await record_quality_comparisons(
                session=session, customer_id="acme", workload_id=workload_id, comparisons=comparisons
            )

    profile = await ApplicationActivities(sessions).profile("acme", "chat", data.T0 + timedelta(hours=2))

    # This workload's comparisons of the last month, counted where the route would look for them.
    assert profile is not None
    (tally,) = profile.quality
    assert (tally.request_type, tally.compared, tally.worse) == ("support-chat", 2, 1)
    assert tally.context_upper >= 1200 > TOKEN_BIN_UPPER[tally.context_bin - 1]


async def test_records_need_a_registered_workload(sessions: Sessions) -> None:
    with pytest.raises(IntegrityError):
        await _record(sessions, "acme", "no-such-workload", [0])
    assert await data.count_rows(sessions, "request_log") == 0


# Tier 2


async def test_aggregates_are_refused_for_a_tier_1_customer(sessions: Sessions) -> None:
    with pytest.raises(
        TierNotAllowedError, match="tier 1; storing aggregated statistics needs tier 2 or above"
    ):
        async with sessions.begin() as session:
            await record_aggregates(
                session=session, customer_id="acme", workload_id="chat", aggregates=[data.rag_stats()]
            )
    assert await data.count_rows(sessions, "request_aggregates") == 0
    with pytest.raises(UnknownCustomerError):
        async with sessions.begin() as session:
            await record_aggregates(session=session, customer_id="ghost", workload_id="chat", aggregates=[])


@pytest.mark.parametrize("tier", [PrivacyTier.AGGREGATES, PrivacyTier.CONTENT])
async def test_tier_2_and_3_store_and_read_aggregates(sessions: Sessions, tier: PrivacyTier) -> None:
    await data.set_tier(sessions, "acme", tier)
    async with sessions.begin() as session:
        stored = await record_aggregates(
            session=session,
            customer_id="acme",
            workload_id="chat",
            aggregates=[data.rag_stats(1), data.rag_stats(0), data.prompt_structure(0), data.rag_stats(5)],
        )
    assert stored == 4
    view = Tier2View(customer_id="acme", sessions=sessions)
    window = (data.T0 + timedelta(minutes=30), data.T0 + 3 * data.HOUR)  # overlaps hours 0 and 1 only

    assert await view.rag_stats("chat", *window) == [data.rag_stats(0), data.rag_stats(1)]
    assert await view.prompt_structures("chat", *window) == [data.prompt_structure(0)]
    assert await view.rag_stats("batch", *window) == []


async def test_an_aggregate_sent_again_for_its_period_replaces_the_first(sessions: Sessions) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.AGGREGATES)
    revised = data.rag_stats(0, requests=640, mean_chunks_used=3.0)
    for batch in ([data.rag_stats(0)], [revised, revised]):
        async with sessions.begin() as session:
            await record_aggregates(session=session, customer_id="acme", workload_id="chat", aggregates=batch)
    view = Tier2View(customer_id="acme", sessions=sessions)
    assert await view.rag_stats("chat", data.T0, data.T0 + DAY) == [revised]
    assert await data.count_rows(sessions, "request_aggregates") == 1


async def test_a_tier_2_view_stops_reading_aggregates_once_the_customer_is_back_in_tier_1(
    sessions: Sessions,
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.AGGREGATES)
    async with sessions.begin() as session:
        await record_aggregates(
            session=session, customer_id="acme", workload_id="chat", aggregates=[data.rag_stats()]
        )
    view = Tier2View(customer_id="acme", sessions=sessions)
    await data.set_tier(sessions, "acme", PrivacyTier.METRICS_ONLY)
    with pytest.raises(TierNotAllowedError):
        await view.rag_stats("chat", data.T0, data.T0 + DAY)


# Tier 3


async def test_prompt_content_is_stored_encrypted_and_audited(
    sessions: Sessions, cipher: PromptCipher, key: SecretStr
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    assert await _store_prompts(sessions, cipher, data.prompts()) == 2

    async with sessions() as session:
        tokens = list(await session.scalars(select(PromptVaultRow.ciphertext)))
        audit = await repository.list_audit(session=session, subject="acme/chat")
    assert len(tokens) == 2
    for token in tokens:
        for secret in (*data.SECRET_PROMPTS, data.SECRET_COMPLETION, *data.SECRET_WORDS):
            assert secret.encode() not in token
        assert Fernet(key.get_secret_value().encode()).decrypt(token)  # a genuine Fernet token under the key
    assert [(e.actor, e.action, e.detail) for e in audit] == [
        (
            "ingest-pipeline",
            "prompt_content.written",
            {"workload_id": "chat", "request_refs": ["req-1", "req-2"]},
        )
    ]


async def test_a_tier_3_read_decrypts_and_appends_an_audit_entry_per_access(
    sessions: Sessions, cipher: PromptCipher, settings: Settings
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _store_prompts(sessions, cipher, data.prompts())
    view = await open_view(sessions=sessions, customer_id="acme", settings=settings)
    assert isinstance(view, Tier3View)

    by_ref = await view.prompt_contents(
        "chat", request_refs=["req-2", "req-unknown"], actor="jane@optiinfra", purpose="prompt-cache study"
    )
    by_period = await view.prompt_contents(
        "chat", since=data.T0, until=data.T0 + DAY, actor="sched:app-agent", purpose="weekly profile"
    )

    assert by_ref == [data.prompts()[1]]
    assert by_period == data.prompts()
    async with sessions() as session:
        reads = [
            e
            for e in await repository.list_audit(session=session, subject="acme/chat")
            if e.action == "prompt_content.read"
        ]
    assert [(e.actor, e.detail["purpose"], e.detail["request_refs"]) for e in reads] == [
        ("jane@optiinfra", "prompt-cache study", ["req-2"]),
        ("sched:app-agent", "weekly profile", ["req-1", "req-2"]),
    ]
    assert reads[0].detail["requested"] == {"request_refs": ["req-2", "req-unknown"]}
    for entry in reads:
        for secret in (*data.SECRET_PROMPTS, data.SECRET_COMPLETION, *data.SECRET_WORDS):
            assert secret not in repr(entry.detail)


async def test_a_read_needs_an_actor_a_purpose_and_one_selection(
    sessions: Sessions, cipher: PromptCipher
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    view = Tier3View(customer_id="acme", sessions=sessions, cipher=cipher)
    with pytest.raises(ValueError, match="actor and a purpose"):
        await view.prompt_contents("chat", request_refs=["req-1"], actor="jane", purpose=" ")
    with pytest.raises(ValueError, match="either request_refs or both since and until"):
        await view.prompt_contents(
            "chat", request_refs=["req-1"], since=data.T0, actor="jane", purpose="debug"
        )
    with pytest.raises(ValueError, match="either request_refs or both since and until"):
        await view.prompt_contents("chat", actor="jane", purpose="debug")


async def test_storing_a_request_again_replaces_its_content(sessions: Sessions, cipher: PromptCipher) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _store_prompts(sessions, cipher, data.prompts())
    corrected = PromptContent(request_ref="req-1", at=data.T0, prompt="a corrected prompt", completion="ok")
    await _store_prompts(sessions, cipher, [corrected])
    view = Tier3View(customer_id="acme", sessions=sessions, cipher=cipher)
    read = await view.prompt_contents("chat", request_refs=["req-1"], actor="jane", purpose="check")
    assert read == [corrected]
    assert await data.count_rows(sessions, "prompt_vault") == 2


async def test_content_under_another_key_fails_clearly_and_returns_nothing(
    sessions: Sessions, cipher: PromptCipher
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _store_prompts(sessions, cipher, data.prompts())
    rotated = PromptCipher(SecretStr(Fernet.generate_key().decode()))
    view = Tier3View(customer_id="acme", sessions=sessions, cipher=rotated)
    with pytest.raises(EncryptionKeyError, match="OPTIINFRA_PROMPT_ENCRYPTION_KEY"):
        await view.prompt_contents("chat", request_refs=["req-1"], actor="jane", purpose="debug")


async def test_ciphertext_moved_to_another_request_is_not_served_as_its_content(
    sessions: Sessions, cipher: PromptCipher
) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _store_prompts(sessions, cipher, data.prompts()[:1], workload_id="chat")
    await _store_prompts(
        sessions,
        cipher,
        [PromptContent(request_ref="req-9", at=data.T0, prompt="harmless")],
        workload_id="batch",
    )
    async with sessions.begin() as session:
        chat_token = (
            await session.scalars(
                select(PromptVaultRow.ciphertext).where(PromptVaultRow.request_ref == "req-1")
            )
        ).one()
        await session.execute(
            update(PromptVaultRow).where(PromptVaultRow.request_ref == "req-9").values(ciphertext=chat_token)
        )
    view = Tier3View(customer_id="acme", sessions=sessions, cipher=cipher)
    with pytest.raises(PrivacyError, match="encrypted for another request"):
        await view.prompt_contents("batch", request_refs=["req-9"], actor="jane", purpose="debug")


async def test_open_view_follows_the_recorded_tier_and_needs_the_key_for_tier_3(
    sessions: Sessions, settings: Settings
) -> None:
    assert type(await open_view(sessions=sessions, customer_id="acme", settings=settings)) is Tier1View
    await data.set_tier(sessions, "acme", PrivacyTier.AGGREGATES)
    assert type(await open_view(sessions=sessions, customer_id="acme", settings=settings)) is Tier2View
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    assert type(await open_view(sessions=sessions, customer_id="acme", settings=settings)) is Tier3View

    with pytest.raises(EncryptionKeyError, match="needs OPTIINFRA_PROMPT_ENCRYPTION_KEY"):
        await open_view(sessions=sessions, customer_id="acme", settings=Settings(prompt_encryption_key=None))
    with pytest.raises(EncryptionKeyError, match="is not a Fernet key"):
        await open_view(
            sessions=sessions, customer_id="acme", settings=Settings(prompt_encryption_key=SecretStr("x"))
        )
    with pytest.raises(UnknownCustomerError):
        await open_view(sessions=sessions, customer_id="ghost", settings=settings)


async def test_deleting_a_workload_deletes_its_tier_data(sessions: Sessions, cipher: PromptCipher) -> None:
    await data.set_tier(sessions, "acme", PrivacyTier.CONTENT)
    await _record(sessions, "acme", "chat", [0])
    async with sessions.begin() as session:
        await record_aggregates(
            session=session, customer_id="acme", workload_id="chat", aggregates=[data.rag_stats()]
        )
    await _store_prompts(sessions, cipher, data.prompts())
    async with sessions.begin() as session:
        await session.execute(
            delete(WorkloadRow).where(WorkloadRow.workload_id == "chat", WorkloadRow.customer_id == "acme")
        )
    for table in ("request_log", "request_aggregates", "prompt_vault"):
        assert await data.count_rows(sessions, table) == 0, table
