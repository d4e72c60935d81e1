"""Round trips, filters and the idempotency rules of the store, on SQLite and PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.domain.enums import AgentKind, RecommendationStatus, StepStatus
from optiinfra.domain.recommendation import StepResult
from optiinfra.store import repository as repo
from tests.optiinfra.store import factories

Sessions = async_sessionmaker[AsyncSession]


async def _seed_customer_and_workload(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await repo.upsert_customer(session=session, customer=factories.customer())
        await repo.upsert_workload(session=session, workload=factories.workload())


async def _seed_recommendation(sessions: Sessions, recommendation_id: str = "rec-1") -> None:
    async with sessions.begin() as session:
        await repo.save_recommendation(
            session=session, recommendation=factories.recommendation(recommendation_id)
        )


# Customers and workloads


async def test_customer_round_trip_and_upsert(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await repo.upsert_customer(session=session, customer=factories.customer())
    renamed = factories.customer(name="Acme Corporation")
    async with sessions.begin() as session:
        await repo.upsert_customer(session=session, customer=renamed)
    async with sessions() as session:
        assert await repo.get_customer(session=session, customer_id="acme") == renamed
        assert await repo.get_customer(session=session, customer_id="nobody") is None


async def test_list_customers_in_id_order(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        for customer_id in ("zeta", "alpha"):
            await repo.upsert_customer(session=session, customer=factories.customer(customer_id))
    async with sessions() as session:
        listed = await repo.list_customers(session=session)
    assert [c.customer_id for c in listed] == ["alpha", "zeta"]


async def test_workload_round_trip_and_filter(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        for customer_id in ("acme", "globex"):
            await repo.upsert_customer(session=session, customer=factories.customer(customer_id))
            await repo.upsert_workload(session=session, workload=factories.workload(customer_id, "chat"))
        await repo.upsert_workload(session=session, workload=factories.workload("acme", "batch"))
    async with sessions() as session:
        got = await repo.get_workload(session=session, customer_id="acme", workload_id="chat")
        missing = await repo.get_workload(session=session, customer_id="acme", workload_id="nope")
        acme = await repo.list_workloads(session=session, customer_id="acme")
        everyone = await repo.list_workloads(session=session)
    assert got == factories.workload("acme", "chat")
    assert missing is None
    assert [w.workload_id for w in acme] == ["batch", "chat"]
    assert [(w.customer_id, w.workload_id) for w in everyone] == [
        ("acme", "batch"),
        ("acme", "chat"),
        ("globex", "chat"),
    ]


async def test_workload_needs_its_customer(sessions: Sessions) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await repo.upsert_workload(session=session, workload=factories.workload("ghost"))


# Recommendations


async def test_recommendation_round_trip(sessions: Sessions) -> None:
    original = factories.recommendation()
    async with sessions.begin() as session:
        assert await repo.save_recommendation(session=session, recommendation=original) == original
    async with sessions() as session:
        by_id = await repo.get_recommendation(session=session, recommendation_id="rec-1")
        by_workflow = await repo.get_recommendation_by_workflow(session=session, workflow_id="wf-rec-1")
        assert await repo.get_recommendation(session=session, recommendation_id="nope") is None
        assert await repo.get_recommendation_by_workflow(session=session, workflow_id="nope") is None
    assert by_id == original
    assert by_workflow == original


async def test_timestamps_come_back_in_utc(sessions: Sessions) -> None:
    in_tokyo = datetime(2025, 3, 1, 21, 0, tzinfo=timezone(timedelta(hours=9)))
    async with sessions.begin() as session:
        await repo.save_recommendation(
            session=session, recommendation=factories.recommendation(created_at=in_tokyo)
        )
    async with sessions() as session:
        stored = await repo.get_recommendation(session=session, recommendation_id="rec-1")
    assert stored is not None
    assert stored.created_at == in_tokyo
    assert stored.created_at.tzinfo == UTC


async def test_save_recommendation_twice_overwrites_in_place(sessions: Sessions) -> None:
    await _seed_recommendation(sessions)
    revised = factories.recommendation().model_copy(update={"title": "Move chat to spot, revised"})
    async with sessions.begin() as session:
        await repo.save_recommendation(session=session, recommendation=revised)
        await repo.save_recommendation(session=session, recommendation=revised)
    async with sessions() as session:
        listed = await repo.list_recommendations(session=session)
    assert listed == [revised]


async def test_list_recommendations_filters_newest_first(sessions: Sessions) -> None:
    pending = RecommendationStatus.PENDING_APPROVAL
    recs = [
        factories.recommendation("old", created_at=factories.T0),
        factories.recommendation("new", created_at=factories.T0 + timedelta(hours=1)),
        factories.recommendation("done", status=RecommendationStatus.EXECUTED),
        factories.recommendation("other", customer_id="globex"),
    ]
    async with sessions.begin() as session:
        for rec in recs:
            await repo.save_recommendation(session=session, recommendation=rec)
    async with sessions() as session:
        acme_pending = await repo.list_recommendations(session=session, status=pending, customer_id="acme")
        executed = await repo.list_recommendations(session=session, status=RecommendationStatus.EXECUTED)
        globex = await repo.list_recommendations(session=session, customer_id="globex")
        everything = await repo.list_recommendations(session=session)
    assert [r.recommendation_id for r in acme_pending] == ["new", "old"]
    assert [r.recommendation_id for r in executed] == ["done"]
    assert [r.recommendation_id for r in globex] == ["other"]
    assert len(everything) == 4


async def test_status_update_records_reason_approval_and_outcome(sessions: Sessions) -> None:
    await _seed_recommendation(sessions)
    async with sessions() as session:
        assert await repo.get_outcome(session=session, recommendation_id="rec-1") is None
    async with sessions.begin() as session:
        await repo.update_recommendation_status(
            session=session,
            recommendation_id="rec-1",
            status=RecommendationStatus.APPROVED,
            approval=factories.approval(),
        )
        updated = await repo.update_recommendation_status(
            session=session,
            recommendation_id="rec-1",
            status=RecommendationStatus.EXECUTED,
            reason="verified",
            outcome=factories.outcome(),
        )
    assert updated.status is RecommendationStatus.EXECUTED
    async with sessions() as session:
        record = await repo.get_recommendation_record(session=session, recommendation_id="rec-1")
        listed = await repo.list_recommendations(session=session, status=RecommendationStatus.EXECUTED)
    assert record is not None
    assert record.recommendation.status is RecommendationStatus.EXECUTED
    assert record.status_reason == "verified"
    assert record.approval == factories.approval()
    assert record.outcome == factories.outcome()
    async with sessions() as session:
        assert await repo.get_outcome(session=session, recommendation_id="rec-1") == factories.outcome()
        assert await repo.get_outcome(session=session, recommendation_id="nope") is None
    assert [r.recommendation_id for r in listed] == ["rec-1"]


async def test_final_status_cannot_be_left(sessions: Sessions) -> None:
    await _seed_recommendation(sessions)
    rejected = RecommendationStatus.REJECTED
    async with sessions.begin() as session:
        await repo.update_recommendation_status(session=session, recommendation_id="rec-1", status=rejected)
    async with sessions.begin() as session:
        again = await repo.update_recommendation_status(
            session=session, recommendation_id="rec-1", status=rejected, reason="retried"
        )
        assert again.status is rejected
        with pytest.raises(ValueError, match="already rejected"):
            await repo.update_recommendation_status(
                session=session, recommendation_id="rec-1", status=RecommendationStatus.APPROVED
            )
        with pytest.raises(ValueError, match="already rejected"):
            await repo.save_recommendation(session=session, recommendation=factories.recommendation())
    async with sessions() as session:
        stored = await repo.get_recommendation(session=session, recommendation_id="rec-1")
    assert stored is not None
    assert stored.status is rejected


async def test_status_update_of_unknown_recommendation(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        with pytest.raises(LookupError):
            await repo.update_recommendation_status(
                session=session, recommendation_id="nope", status=RecommendationStatus.APPROVED
            )


# Step results


async def _record(sessions: Sessions, *results: StepResult) -> list[bool]:
    async with sessions.begin() as session:
        return [
            await repo.record_step_result(
                session=session, recommendation_id="rec-1", workflow_id="wf-rec-1", result=result
            )
            for result in results
        ]


async def test_recording_a_step_result_twice_is_a_no_op(sessions: Sessions) -> None:
    await _seed_recommendation(sessions)
    succeeded = factories.step_result()
    compensated = factories.step_result(status=StepStatus.COMPENSATED)
    assert await _record(sessions, succeeded, succeeded) == [True, False]
    assert await _record(sessions, succeeded, compensated) == [False, True]
    async with sessions() as session:
        results = await repo.list_step_results(session=session, recommendation_id="rec-1")
        assert await repo.list_step_results(session=session, recommendation_id="nope") == []
    assert results == [succeeded, compensated]


# Audit log


async def test_audit_log_appends_and_filters(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        first = await repo.append_audit(
            session=session,
            actor="ops@acme",
            action="approve",
            subject="rec-1",
            detail={"at": factories.T0, "status": RecommendationStatus.APPROVED},
        )
        await repo.append_audit(session=session, actor="system", action="expire", subject="rec-2", detail={})
    assert first.detail == {"at": "2025-03-01T12:30:15.123456Z", "status": "approved"}
    async with sessions() as session:
        for_rec_1 = await repo.list_audit(session=session, subject="rec-1")
        everything = await repo.list_audit(session=session)
    assert for_rec_1 == [first]
    assert [entry.subject for entry in everything] == ["rec-1", "rec-2"]
    assert first.at.tzinfo == UTC


# Workflow runs


async def _allocate(sessions: Sessions, agent: AgentKind = AgentKind.COST) -> tuple[int, str]:
    async with sessions.begin() as session:
        return await repo.allocate_run(
            session=session,
            customer_id="acme",
            workload_id="chat",
            agent=agent,
            workflow_id_prefix=f"acme/chat/{agent.value}",
        )


async def test_allocate_run_numbers_each_agent_from_one(sessions: Sessions) -> None:
    assert [await _allocate(sessions) for _ in range(3)] == [
        (1, "acme/chat/cost/1"),
        (2, "acme/chat/cost/2"),
        (3, "acme/chat/cost/3"),
    ]
    assert await _allocate(sessions, AgentKind.PERFORMANCE) == (1, "acme/chat/performance/1")


async def test_concurrent_allocations_get_distinct_numbers(sessions: Sessions) -> None:
    allocations = await asyncio.gather(*(_allocate(sessions) for _ in range(8)))
    assert sorted(number for number, _ in allocations) == list(range(1, 9))
    assert len({workflow_id for _, workflow_id in allocations}) == 8


async def test_losing_an_allocation_race_keeps_the_rest_of_the_transaction(sessions: Sessions) -> None:
    """B starts while A holds run 1 uncommitted. On PostgreSQL B's insert waits for A, then conflicts
    and retries inside a savepoint; on SQLite B waits for A's write lock. Either way B gets run 2 and
    the work B did before allocating survives."""
    async with sessions.begin() as session_a:
        assert await repo.allocate_run(
            session=session_a,
            customer_id="acme",
            workload_id="chat",
            agent=AgentKind.COST,
            workflow_id_prefix="acme/chat/cost",
        ) == (1, "acme/chat/cost/1")
        b = asyncio.create_task(_upsert_customer_then_allocate(sessions))
        await asyncio.sleep(0.3)
        assert not b.done()
    assert await b == (2, "acme/chat/cost/2")
    async with sessions() as session:
        assert await repo.get_customer(session=session, customer_id="acme") is not None


async def _upsert_customer_then_allocate(sessions: Sessions) -> tuple[int, str]:
    async with sessions.begin() as session:
        await repo.upsert_customer(session=session, customer=factories.customer())
        return await repo.allocate_run(
            session=session,
            customer_id="acme",
            workload_id="chat",
            agent=AgentKind.COST,
            workflow_id_prefix="acme/chat/cost",
        )
