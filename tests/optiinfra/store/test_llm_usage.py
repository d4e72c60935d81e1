"""Language-model usage records: round trip, filters and the daily spend, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage
from optiinfra.store import repository as repo

Sessions = async_sessionmaker[AsyncSession]

MARCH = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


def usage(**changes: object) -> LlmUsage:
    values: dict[str, object] = {
        "task": "explain_proposal",
        "tier": InferenceTier.MEDIUM,
        "model": "Qwen/Qwen2.5-14B-Instruct",
        "prompt_tokens": 300,
        "completion_tokens": 80,
        "cost_usd": 0.12,
        "calls": 3,
        "repairs": 2,
    }
    return LlmUsage.model_validate(values | changes)


async def record(
    sessions: Sessions,
    *,
    workflow_id: str = "wf-1",
    customer_id: str = "acme",
    at: datetime = MARCH,
    **changes: object,
) -> None:
    async with sessions.begin() as session:
        await repo.record_llm_usage(
            session=session,
            workflow_id=workflow_id,
            customer_id=customer_id,
            usage=usage(**changes),
            created_at=at,
        )


async def test_usage_round_trip(sessions: Sessions) -> None:
    fallback = usage(
        cost_usd=0.0,
        tier=InferenceTier.MEDIUM,
        prompt_tokens=0,
        completion_tokens=0,
        calls=0,
        repairs=0,
        cached=False,
        fell_back_to_rules=True,
        reason="circuit breaker open for the medium tier",
    )
    async with sessions.begin() as session:
        stored = await repo.record_llm_usage(
            session=session, workflow_id="wf-1", customer_id="acme", usage=usage(), created_at=MARCH
        )
        await repo.record_llm_usage(session=session, workflow_id="wf-1", customer_id="acme", usage=fallback)
    async with sessions() as session:
        listed = await repo.list_llm_usage(session=session, workflow_id="wf-1")

    assert listed[0] == stored
    assert listed[0].created_at == MARCH
    assert LlmUsage.model_validate(listed[0].model_dump(include=set(LlmUsage.model_fields))) == usage()
    assert LlmUsage.model_validate(listed[1].model_dump(include=set(LlmUsage.model_fields))) == fallback
    assert listed[1].created_at.tzinfo is not None
    assert listed[0].id < listed[1].id


async def test_list_filters_by_workflow_and_customer(sessions: Sessions) -> None:
    await record(sessions, workflow_id="wf-1", customer_id="acme")
    await record(sessions, workflow_id="wf-2", customer_id="acme", cached=True)
    await record(sessions, workflow_id="wf-3", customer_id="globex", tier=InferenceTier.RULES, model="")
    async with sessions() as session:
        by_workflow = await repo.list_llm_usage(session=session, workflow_id="wf-2")
        by_customer = await repo.list_llm_usage(session=session, customer_id="acme")
        everything = await repo.list_llm_usage(session=session)
    assert [u.workflow_id for u in by_workflow] == ["wf-2"]
    assert by_workflow[0].cached
    assert [u.workflow_id for u in by_customer] == ["wf-1", "wf-2"]
    assert [u.tier for u in everything] == [InferenceTier.MEDIUM, InferenceTier.MEDIUM, InferenceTier.RULES]


async def test_spent_today_sums_one_customers_utc_day(sessions: Sessions) -> None:
    await record(sessions, at=datetime(2025, 3, 15, 0, 0, tzinfo=UTC), cost_usd=1.25)  # first instant counts
    await record(sessions, at=MARCH, cost_usd=0.5)
    # 00:30 on March 16th in UTC+02:00 is still March 15th in UTC.
    await record(
        sessions, at=datetime(2025, 3, 16, 0, 30, tzinfo=timezone(timedelta(hours=2))), cost_usd=0.25
    )
    await record(sessions, at=datetime(2025, 3, 14, 23, 59, 59, tzinfo=UTC), cost_usd=100.0)
    await record(sessions, at=datetime(2025, 3, 16, 0, 0, tzinfo=UTC), cost_usd=200.0)
    await record(sessions, at=MARCH, cost_usd=300.0, customer_id="globex")

    async with sessions() as session:
        today = await repo.spent_today(session=session, customer_id="acme", now=MARCH)
        tomorrow = await repo.spent_today(
            session=session, customer_id="acme", now=datetime(2025, 3, 16, 18, tzinfo=UTC)
        )
        # 23:00 on the 15th in UTC-05:00 is already the 16th in UTC.
        late_in_new_york = await repo.spent_today(
            session=session,
            customer_id="acme",
            now=datetime(2025, 3, 15, 23, tzinfo=timezone(timedelta(hours=-5))),
        )
        nobody = await repo.spent_today(session=session, customer_id="nobody", now=MARCH)
    assert today == pytest.approx(2.0)
    assert tomorrow == pytest.approx(200.0)
    assert late_in_new_york == pytest.approx(200.0)
    assert nobody == 0.0


async def test_spent_today_crosses_the_year_end(sessions: Sessions) -> None:
    await record(sessions, at=datetime(2025, 12, 31, 23, 0, tzinfo=UTC), cost_usd=3.0)
    await record(sessions, at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC), cost_usd=4.0)
    async with sessions() as session:
        new_years_eve = await repo.spent_today(
            session=session, customer_id="acme", now=datetime(2025, 12, 31, 8, tzinfo=UTC)
        )
    assert new_years_eve == pytest.approx(3.0)


async def test_usage_recorded_before_calls_were_counted_reads_as_zero_calls(sessions: Sessions) -> None:
    """Rows written by the previous schema get the columns' server defaults."""
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO llm_usage (workflow_id, customer_id, task, tier, model, prompt_tokens, "
                "completion_tokens, cost_usd, cached, fell_back, reason, created_at) VALUES "
                "('wf-old', 'acme', 'explain_proposal', 'medium', 'm', 10, 5, 0.01, false, false, '', :at)"
            ),
            {"at": MARCH},
        )
    async with sessions() as session:
        [old] = await repo.list_llm_usage(session=session, workflow_id="wf-old")
    assert (old.calls, old.repairs, old.prompt_tokens) == (0, 0, 10)
