"""The regression defense activities against a real chdb metrics store and a real store (SQLite and
PostgreSQL): serving health rolled up across replicas, the verdict against a baseline, root-cause notes only
for confirmed regressions (usage recorded), rollback plans, our latest change to a workload, and the end of
a rollback on its recommendation."""

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.regression import RegressionActivities
from agents.reasoning.layering import InferenceLayer
from optiinfra.domain.enums import RecommendationStatus, StepAction, StepPhase, StepStatus
from optiinfra.domain.recommendation import (
    CompensationStep,
    ExecutionStep,
    Outcome,
    Recommendation,
    StepResult,
)
from optiinfra.domain.regression import RegressionThresholds, RegressionVerdict, RootCauseNote
from optiinfra.llm.tiers import InferenceTier
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.store import repository
from tests.agents.regression.builders import (
    FRONTIER_MODEL,
    frontier_layer,
    quiet_verdict,
    regressed_verdict,
    scale_down_change,
    succeeded,
    window_stats,
)
from tests.support.openai_stub import OpenAIStub, answer
from workflows.contracts import (
    HealthRequest,
    RecentChangeQuery,
    RegressionCheck,
    RootCauseRequest,
)
from workflows.rollback import RollbackRecord

Sessions = async_sessionmaker[AsyncSession]

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOUR = timedelta(hours=1)
TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[AsyncMetricsStore]:
    store = ChdbMetricsStore(tmp_path / "metrics")
    yield AsyncMetricsStore(store)
    store.close()


@pytest.fixture
async def stub_layer(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    layer = frontier_layer(openai_stub)
    yield layer
    await layer.aclose()


def activities_for(
    metrics: AsyncMetricsStore, sessions: Sessions, layer: InferenceLayer | None = None
) -> RegressionActivities:
    return RegressionActivities(metrics, sessions, layer or InferenceLayer())


async def write_hours(
    metrics: AsyncMetricsStore,
    start: datetime,
    hours: int,
    *,
    ttft_p99: float,
    replicas: int = 2,
    errors: float = 0,
) -> None:
    rows = [
        window_stats(
            "demo", "assistant", f"assistant-{r}", start + n * TEN_MINUTES, ttft_p99=ttft_p99, errors=errors
        )
        for n in range(hours * 6)
        for r in range(replicas)
    ]
    await metrics.write_window_stats(rows)


# ---- serving health and the verdict ------------------------------------------------------------------


async def test_health_takes_the_worst_replica_per_window_and_weights_windows_by_requests(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    first, second = NOW - HOUR, NOW - HOUR + TEN_MINUTES
    await metrics.write_window_stats(
        [
            window_stats("demo", "assistant", "a", first, requests=100, ttft_p99=1.0, errors=5),
            window_stats("demo", "assistant", "b", first, requests=100, ttft_p99=2.0, errors=5),
            window_stats("demo", "assistant", "a", second, requests=300, ttft_p99=0.5, itl_p99=0.1),
            window_stats("demo", "assistant", "b", second, requests=300, ttft_p99=0.5),
            # outside [since, until): before it, at its end, and another workload
            window_stats("demo", "assistant", "a", first - TEN_MINUTES, ttft_p99=50.0),
            window_stats("demo", "assistant", "a", NOW, ttft_p99=50.0),
            window_stats("demo", "other", "a", second, ttft_p99=50.0),
        ]
    )
    health = await activities_for(metrics, sessions).measure_serving_health(
        HealthRequest(customer_id="demo", workload_id="assistant", since=first, until=NOW)
    )

    assert health.windows == 2
    assert health.requests == 810.0
    assert health.ttft_p99_s == pytest.approx((2.0 * 200 + 0.5 * 600) / 800)
    assert health.itl_p99_s == pytest.approx((0.05 * 200 + 0.1 * 600) / 800)
    assert health.error_rate == pytest.approx(10 / 810)
    assert (health.since, health.until) == (first, NOW)


async def test_check_measures_the_current_period_and_judges_it_against_the_baseline(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    await write_hours(metrics, NOW - 25 * HOUR, 24, ttft_p99=0.9)
    await write_hours(metrics, NOW - HOUR, 1, ttft_p99=1.35)
    regression = activities_for(metrics, sessions)
    baseline = await regression.measure_serving_health(
        HealthRequest(customer_id="demo", workload_id="assistant", since=NOW - 25 * HOUR, until=NOW - HOUR)
    )
    verdict = await regression.check_regression(
        RegressionCheck(baseline=baseline, since=NOW - HOUR, until=NOW, thresholds=RegressionThresholds())
    )

    assert baseline.ttft_p99_s == pytest.approx(0.9) and baseline.windows == 144
    assert verdict.regressed and verdict.judgeable
    assert verdict.current.ttft_p99_s == pytest.approx(1.35)
    assert [f.metric.value for f in verdict.findings] == ["ttft_p99"]
    assert verdict.current.workload_id == "assistant"

    lenient = await regression.check_regression(
        RegressionCheck(
            baseline=baseline,
            since=NOW - HOUR,
            until=NOW,
            thresholds=RegressionThresholds(max_p99_increase=0.6),
        )
    )
    assert not lenient.regressed and lenient.judgeable


async def test_a_workload_without_windows_is_not_judged(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    regression = activities_for(metrics, sessions)
    baseline = await regression.measure_serving_health(
        HealthRequest(customer_id="demo", workload_id="idle", since=NOW - 25 * HOUR, until=NOW - HOUR)
    )
    verdict = await regression.check_regression(
        RegressionCheck(baseline=baseline, since=NOW - HOUR, until=NOW)
    )
    assert (baseline.windows, baseline.requests, baseline.ttft_p99_s) == (0, 0.0, None)
    assert not verdict.regressed and not verdict.judgeable


# ---- root cause ---------------------------------------------------------------------------------------


async def explain_in(
    workflow_id: str, regression: RegressionActivities, request: RootCauseRequest
) -> RootCauseNote:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=workflow_id)
    note: RootCauseNote = await environment.run(regression.explain_regression, request)
    return note


def fabricated() -> RegressionVerdict:
    """Says it regressed, but its one finding is within its limit."""
    verdict = regressed_verdict()
    finding = verdict.findings[0].model_copy(update={"current": 1.0})
    return verdict.model_copy(update={"findings": [finding]})


@pytest.mark.parametrize("verdict", [quiet_verdict(), fabricated()], ids=["quiet", "fabricated"])
async def test_only_a_confirmed_regression_reaches_the_language_model_layer(
    verdict: RegressionVerdict,
    metrics: AsyncMetricsStore,
    sessions: Sessions,
    openai_stub: OpenAIStub,
    stub_layer: InferenceLayer,
) -> None:
    openai_stub.script(answer(json.dumps({"summary": "s", "likely_causes": ["c"]})))
    regression = activities_for(metrics, sessions, stub_layer)

    with pytest.raises(ApplicationError) as refused:
        await explain_in("wf-1", regression, RootCauseRequest(customer_id="demo", verdict=verdict))

    assert refused.value.non_retryable and refused.value.type == "NotARegression"
    assert openai_stub.requests == []
    async with sessions() as session:
        assert await repository.list_llm_usage(session=session) == []


async def test_the_rules_write_the_note_without_a_model_and_the_usage_is_recorded(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    request = RootCauseRequest(
        customer_id="demo", verdict=regressed_verdict(), recent_change=scale_down_change()
    )
    note = await explain_in("regression/watch-1", activities_for(metrics, sessions), request)

    assert note.written_by == "rules"
    assert note.caused_by_recommendation_id == "rec-scale"
    assert "TTFT p99 rose from 900 ms to 1.35 s" in note.summary
    async with sessions() as session:
        [usage] = await repository.list_llm_usage(session=session, workflow_id="regression/watch-1")
    assert (usage.task, usage.tier, usage.customer_id, usage.cost_usd) == (
        "explain_regression",
        InferenceTier.RULES,
        "demo",
        0.0,
    )


async def test_a_model_writes_the_note_when_one_is_configured_and_its_cost_is_recorded(
    metrics: AsyncMetricsStore, sessions: Sessions, openai_stub: OpenAIStub, stub_layer: InferenceLayer
) -> None:
    written = {
        "summary": "p99 TTFT grew half again once the Deployment ran 2 replicas instead of 6.",
        "likely_causes": ["Scale-down from 6 to 2 replicas"],
        "caused_by_recommendation_id": "rec-scale",
    }
    openai_stub.script(answer(json.dumps(written), prompt_tokens=1000, completion_tokens=500))
    request = RootCauseRequest(
        customer_id="demo", verdict=regressed_verdict(), recent_change=scale_down_change()
    )
    note = await explain_in("regression/watch-2", activities_for(metrics, sessions, stub_layer), request)

    assert note == RootCauseNote(**written, written_by=f"frontier:{FRONTIER_MODEL}")
    assert len(openai_stub.requests) == 1
    async with sessions() as session:
        [usage] = await repository.list_llm_usage(session=session, workflow_id="regression/watch-2")
        spent = await repository.spent_today(session=session, customer_id="demo")
    assert (usage.tier, usage.model, usage.calls) == (InferenceTier.FRONTIER, FRONTIER_MODEL, 1)
    assert usage.cost_usd == pytest.approx(1.0 + 1.0) and spent == pytest.approx(2.0)


# ---- rollback plans ---------------------------------------------------------------------------------

DRAIN = ExecutionStep(
    step_id="drain",
    action=StepAction.DRAIN_PODS,
    target="demo/assistant",
    params={"pods": "p-4,p-5"},
    description="Take p-4,p-5 out of traffic",
    compensation=CompensationStep(
        action=StepAction.RESTORE_PODS,
        target="demo/assistant",
        params={"pods": "p-4,p-5"},
        description="Put p-4,p-5 back into traffic",
    ),
)
TERMINATE = ExecutionStep(
    step_id="terminate",
    phase=StepPhase.FINALIZE,
    action=StepAction.TERMINATE_INSTANCE,
    target="i-0abc",
    description="Terminate the replaced instance i-0abc",
)


def drain_then_scale(**changes: Any) -> Recommendation:
    change = scale_down_change(**changes)
    return change.model_copy(update={"steps": [DRAIN, *change.steps]})


async def persist(sessions: Sessions, recommendation: Recommendation, results: list[StepResult]) -> None:
    async with sessions.begin() as session:
        await repository.save_recommendation(session=session, recommendation=recommendation)
        for result in results:
            await repository.record_step_result(
                session=session,
                recommendation_id=recommendation.recommendation_id,
                workflow_id=recommendation.workflow_id,
                result=result,
            )


async def test_the_plan_undoes_the_applied_steps_last_first(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    change = drain_then_scale()
    drain, scale = change.steps
    await persist(sessions, change, [succeeded(drain, NOW - HOUR), succeeded(scale, NOW - HOUR)])
    plan = await activities_for(metrics, sessions).load_rollback_plan("rec-scale")

    assert plan.refused is None
    assert plan.recommendation == change
    assert [(c.step_id, c.compensation) for c in plan.compensations] == [
        ("scale", scale.compensation),
        ("drain", drain.compensation),
    ]
    assert plan.compensations[0].compensation.params == {"replicas": "6"}


async def test_only_steps_that_succeeded_are_undone(metrics: AsyncMetricsStore, sessions: Sessions) -> None:
    change = drain_then_scale()
    drain, scale = change.steps
    await persist(sessions, change, [succeeded(drain, NOW), succeeded(scale, NOW, StepStatus.FAILED)])
    plan = await activities_for(metrics, sessions).load_rollback_plan("rec-scale")
    assert [c.step_id for c in plan.compensations] == ["drain"]


@pytest.mark.parametrize(
    ("change", "ran", "refusal"),
    [
        (
            scale_down_change(extra_steps=(TERMINATE,)),
            ["scale", "terminate"],
            "finalize steps already ran, so it cannot be undone: "
            "terminate (Terminate the replaced instance i-0abc)",
        ),
        (
            scale_down_change(status=RecommendationStatus.ROLLED_BACK),
            ["scale"],
            "it is rolled_back; only an executed change is rolled back",
        ),
        (
            scale_down_change(status=RecommendationStatus.PENDING_APPROVAL),
            [],
            "it is pending_approval; only an executed change is rolled back",
        ),
        (scale_down_change(), [], "none of its steps was applied: there is nothing to undo"),
        (
            scale_down_change().model_copy(
                update={"steps": [scale_down_change().steps[0].model_copy(update={"compensation": None})]}
            ),
            ["scale"],
            "applied steps without a compensation: scale (Scale demo/assistant from 6 to 2 replicas)",
        ),
    ],
    ids=["finalized", "rolled-back", "pending", "nothing-applied", "no-compensation"],
)
async def test_a_change_that_cannot_be_undone_is_refused(
    change: Recommendation, ran: list[str], refusal: str, metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    steps = {step.step_id: step for step in change.steps}
    await persist(sessions, change, [succeeded(steps[step_id], NOW) for step_id in ran])
    plan = await activities_for(metrics, sessions).load_rollback_plan("rec-scale")
    assert plan.refused == refusal
    assert plan.compensations == []


async def test_an_unknown_recommendation_has_no_plan(metrics: AsyncMetricsStore, sessions: Sessions) -> None:
    with pytest.raises(ApplicationError) as unknown:
        await activities_for(metrics, sessions).load_rollback_plan("rec-nope")
    assert unknown.value.non_retryable and unknown.value.type == "UnknownRecommendation"


# ---- our recent change --------------------------------------------------------------------------------


async def test_the_recent_change_is_our_latest_executed_one_on_the_workload(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    def change(recommendation_id: str, finished: datetime, **fields: Any) -> tuple[Recommendation, datetime]:
        recommendation = scale_down_change(
            recommendation_id=recommendation_id, created_at=NOW - 48 * HOUR, **fields
        )
        return recommendation, finished

    candidates = [
        change("rec-old", NOW - 30 * HOUR),  # finished before `since`
        change("rec-earlier", NOW - 5 * HOUR),
        change("rec-latest", NOW - 2 * HOUR),
        change("rec-rolled-back", NOW - HOUR, status=RecommendationStatus.ROLLED_BACK),
        change("rec-pending", NOW - HOUR, status=RecommendationStatus.PENDING_APPROVAL),
        change("rec-other-workload", NOW - HOUR, workload_id="chat-8b"),
        change("rec-other-customer", NOW - HOUR, customer_id="acme"),
    ]
    for recommendation, finished in candidates:
        await persist(sessions, recommendation, [succeeded(recommendation.steps[0], finished)])
    # advice: executed, but no steps ran
    await persist(
        sessions, scale_down_change(recommendation_id="rec-advice").model_copy(update={"steps": []}), []
    )
    regression = activities_for(metrics, sessions)

    found = await regression.find_recent_change(
        RecentChangeQuery(customer_id="demo", workload_id="assistant", since=NOW - 24 * HOUR)
    )
    assert found.recommendation is not None
    assert found.recommendation.recommendation_id == "rec-latest"
    assert found.recommendation.steps == scale_down_change().steps

    at_the_edge = await regression.find_recent_change(
        RecentChangeQuery(customer_id="demo", workload_id="assistant", since=NOW - 2 * HOUR)
    )
    assert at_the_edge.recommendation is not None
    assert at_the_edge.recommendation.recommendation_id == "rec-latest"
    none_since = await regression.find_recent_change(
        RecentChangeQuery(
            customer_id="demo", workload_id="assistant", since=NOW - 2 * HOUR + timedelta(seconds=1)
        )
    )
    assert none_since.recommendation is None


# ---- the end of a rollback -----------------------------------------------------------------------------


async def test_a_rollback_moves_the_executed_recommendation_and_its_outcome_once(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    change = scale_down_change()
    await persist(sessions, change, [succeeded(change.steps[0], NOW - HOUR)])
    async with sessions.begin() as session:
        await repository.update_recommendation_status(
            session=session,
            recommendation_id="rec-scale",
            status=RecommendationStatus.EXECUTED,
            outcome=Outcome(
                recommendation_id="rec-scale",
                workflow_id=change.workflow_id,
                status=RecommendationStatus.EXECUTED,
                verification_passed=True,
                estimated_monthly_savings_usd=4000.0,
                finished_at=NOW - HOUR,
            ),
        )
    regression = activities_for(metrics, sessions)
    record = RollbackRecord(
        recommendation_id="rec-scale",
        status=RecommendationStatus.ROLLED_BACK,
        reason="regression: TTFT p99 +50%",
        actor="workflow:rollback/rec-scale",
    )
    await regression.record_rollback(record)
    await regression.record_rollback(record)  # a retried activity

    async with sessions() as session:
        stored = await repository.get_recommendation_record(session=session, recommendation_id="rec-scale")
        audit = await repository.list_audit(session=session, subject="rec-scale")
    assert stored is not None
    assert stored.recommendation.status is RecommendationStatus.ROLLED_BACK
    assert stored.status_reason == "regression: TTFT p99 +50%"
    assert stored.outcome is not None
    assert stored.outcome.status is RecommendationStatus.ROLLED_BACK
    assert stored.outcome.failure_reason == "regression: TTFT p99 +50%"
    assert stored.outcome.estimated_monthly_savings_usd == 0.0
    assert [(a.actor, a.action, a.detail) for a in audit] == [
        (
            "workflow:rollback/rec-scale",
            "recommendation.rolled_back",
            {"reason": "regression: TTFT p99 +50%", "rolled_back_from": "executed"},
        )
    ]


async def test_a_refused_rollback_is_audited_once_and_changes_nothing(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    await persist(sessions, scale_down_change(), [])
    regression = activities_for(metrics, sessions)
    record = RollbackRecord(
        recommendation_id="rec-scale", reason="rollback refused: nothing", actor="workflow:x"
    )
    await regression.record_rollback(record)
    await regression.record_rollback(record)

    async with sessions() as session:
        stored = await repository.get_recommendation(session=session, recommendation_id="rec-scale")
        audit = await repository.list_audit(session=session, subject="rec-scale")
    assert stored is not None and stored.status is RecommendationStatus.EXECUTED
    assert [(a.action, a.detail) for a in audit] == [
        ("recommendation.rollback_refused", {"reason": "rollback refused: nothing"})
    ]


async def test_only_an_executed_recommendation_is_rolled_back(
    metrics: AsyncMetricsStore, sessions: Sessions
) -> None:
    await persist(sessions, scale_down_change(status=RecommendationStatus.PENDING_APPROVAL), [])
    record = RollbackRecord(
        recommendation_id="rec-scale", status=RecommendationStatus.ROLLED_BACK, reason="r", actor="workflow:x"
    )
    with pytest.raises(ApplicationError) as refused:
        await activities_for(metrics, sessions).record_rollback(record)
    assert refused.value.non_retryable
    assert "only an executed one is rolled back" in refused.value.message
