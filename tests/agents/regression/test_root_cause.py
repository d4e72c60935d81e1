"""The root-cause task: the rules' note from the findings and our recent change, the facts a model gets,
the checks on its answer, and a model asked (over HTTP, the OpenAI stub) only for a confirmed regression."""

import json
from collections.abc import AsyncIterator

import pytest

from agents.reasoning.layering import InferenceLayer
from agents.reasoning.tasks import TaskKind
from agents.reasoning.tenant import Tenant
from agents.regression.root_cause import (
    NO_CHANGE_CAUSE,
    SUMMARY_MAX_CHARS,
    ExplainRegression,
    RootCauseAnswer,
)
from optiinfra.domain.regression import RootCauseNote
from optiinfra.llm.tiers import InferenceTier
from optiinfra.privacy.tiers import PrivacyTier
from tests.agents.regression.builders import (
    FRONTIER_MODEL,
    frontier_layer,
    quiet_verdict,
    regressed_verdict,
    scale_down_change,
)
from tests.support.openai_stub import OpenAIStub, answer

TENANT = Tenant(customer_id="demo", privacy_tier=PrivacyTier.METRICS_ONLY, spent_today_usd=0.0)

MODEL_ANSWER = {
    "summary": "TTFT p99 rose 50% right after the Deployment went from 6 to 2 replicas: too few.",
    "likely_causes": ["The scale-down to 2 replicas", "A traffic peak on fewer replicas"],
    "caused_by_recommendation_id": "rec-scale",
}


@pytest.fixture
async def layer(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    made = frontier_layer(openai_stub)
    yield made
    await made.aclose()


def test_rule_note_names_the_findings_and_blames_our_recent_change() -> None:
    verdict = regressed_verdict()
    change = scale_down_change()
    note = ExplainRegression(verdict, change).rule_answer()

    assert note.summary.startswith(f"demo/assistant: {verdict.summary}")
    assert "TTFT p99 rose from 900 ms to 1.35 s (+50%)" in note.summary
    assert (
        "'Scale assistant from 6 to 2 replicas' (recommendation rec-scale), its likely cause" in note.summary
    )
    assert note.likely_causes == [
        "Our change 'Scale assistant from 6 to 2 replicas' (performance agent, replica_scaling): "
        "Scale demo/assistant from 6 to 2 replicas"
    ]
    assert note.caused_by_recommendation_id == "rec-scale"


def test_rule_note_without_a_change_of_ours_looks_elsewhere() -> None:
    note = ExplainRegression(regressed_verdict()).rule_answer()
    assert note.likely_causes == [NO_CHANGE_CAUSE]
    assert note.caused_by_recommendation_id is None


def test_a_long_rule_summary_is_cut_to_fit_the_schema() -> None:
    change = scale_down_change().model_copy(update={"title": "word " * 200})
    note = ExplainRegression(regressed_verdict(error_rate=0.2), change).rule_answer()
    assert SUMMARY_MAX_CHARS - 5 < len(note.summary) <= SUMMARY_MAX_CHARS and note.summary.endswith("…")
    RootCauseAnswer.model_validate(note.model_dump())


def test_only_a_confirmed_regression_is_left_to_a_model() -> None:
    assert ExplainRegression(regressed_verdict(), scale_down_change()).settled_by_rules() is None
    settled = ExplainRegression(quiet_verdict(), scale_down_change()).settled_by_rules()
    assert settled is not None and settled.caused_by_recommendation_id is None
    assert settled.summary.startswith("demo/assistant: No regression over")


def test_the_task_is_root_cause_on_the_frontier_tier_with_metrics_only() -> None:
    task = ExplainRegression(regressed_verdict())
    assert task.kind is TaskKind.ROOT_CAUSE
    assert task.kind.smallest_fitting_tier is InferenceTier.FRONTIER
    assert task.content_tier is PrivacyTier.METRICS_ONLY


def test_the_model_gets_the_figures_the_findings_and_the_changes_fields() -> None:
    verdict = regressed_verdict()
    system, user = ExplainRegression(verdict, scale_down_change()).messages()
    assert system.role == "system" and '"caused_by_recommendation_id"' in system.content
    facts = json.loads(user.content)

    assert set(facts) == {"workload", "baseline", "current", "findings", "recent_change"}
    assert facts["workload"] == "demo/assistant"
    assert facts["baseline"]["ttft_p99_s"] == 0.9 and facts["current"]["ttft_p99_s"] == 1.35
    assert facts["current"]["requests"] == 10_000.0
    assert facts["findings"] == [{"metric": "ttft_p99", "baseline": 0.9, "current": 1.35, "limit": 1.08}]
    change = facts["recent_change"]
    assert change["recommendation_id"] == "rec-scale"
    assert change["title"] == "Scale assistant from 6 to 2 replicas"
    assert change["steps"] == [
        {
            "step_id": "scale",
            "phase": "apply",
            "action": "scale_deployment",
            "target": "demo/assistant",
            "params": {"replicas": "2", "previous_replicas": "6"},
            "description": "Scale demo/assistant from 6 to 2 replicas",
        }
    ]
    _, no_change = ExplainRegression(verdict).messages()
    assert json.loads(no_change.content)["recent_change"] is None


def test_a_model_may_blame_only_the_change_it_was_given() -> None:
    with_change = ExplainRegression(regressed_verdict(), scale_down_change())
    without = ExplainRegression(regressed_verdict())
    blamed = RootCauseAnswer(summary="s", likely_causes=["c"], caused_by_recommendation_id="rec-other")

    assert (
        with_change.rejection(blamed) == "blames recommendation rec-other, not the change given (rec-scale)"
    )
    assert without.rejection(blamed) == "blames recommendation rec-other, but no change of ours was given"
    assert with_change.rejection(RootCauseAnswer(summary="s", likely_causes=[])) == "names no likely cause"
    assert with_change.rejection(RootCauseAnswer.model_validate(MODEL_ANSWER)) is None
    assert without.rejection(RootCauseAnswer(summary="s", likely_causes=["c"])) is None


async def test_a_confirmed_regression_is_explained_by_the_frontier_model(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    openai_stub.script(answer(json.dumps(MODEL_ANSWER)))
    task = ExplainRegression(regressed_verdict(), scale_down_change())
    inference = await layer.answer(task, tenant=TENANT)

    assert inference.answer == RootCauseAnswer.model_validate(MODEL_ANSWER)
    assert (inference.usage.tier, inference.usage.model) == (InferenceTier.FRONTIER, FRONTIER_MODEL)
    assert not inference.usage.fell_back_to_rules
    [request] = openai_stub.requests
    assert request["model"] == FRONTIER_MODEL
    assert request["messages"][1]["content"] == task.messages()[1].content
    assert inference.answer.note("frontier:m") == RootCauseNote(**MODEL_ANSWER, written_by="frontier:m")


async def test_a_model_answer_blaming_another_change_is_repaired(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    openai_stub.script(
        answer(json.dumps({**MODEL_ANSWER, "caused_by_recommendation_id": "rec-invented"})),
        answer(json.dumps(MODEL_ANSWER)),
    )
    inference = await layer.answer(ExplainRegression(regressed_verdict(), scale_down_change()), tenant=TENANT)

    assert inference.answer.caused_by_recommendation_id == "rec-scale"
    assert (inference.usage.calls, inference.usage.repairs) == (2, 1)
    assert "rec-invented" in json.dumps(openai_stub.requests[1]["messages"])


async def test_no_model_is_asked_about_a_workload_that_did_not_regress(
    openai_stub: OpenAIStub, layer: InferenceLayer
) -> None:
    openai_stub.script(answer(json.dumps(MODEL_ANSWER)))
    inference = await layer.answer(ExplainRegression(quiet_verdict(), scale_down_change()), tenant=TENANT)

    assert openai_stub.requests == []
    assert inference.usage.tier is InferenceTier.RULES
    assert inference.usage.reason == "settled by rules"
