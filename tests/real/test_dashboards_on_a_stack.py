"""The dashboards and alert rules under deploy/ against a real Prometheus (Debian's) scraping the embedded
stack's API and worker, as the compose stack's Prometheus does.

On the stack (its Schedules every few seconds, the language-model tier answered by the OpenAI stub):
support-bot's autoscaling policy is approved, executed, and rolled back (its compensations run); chat-8b's
right-sizing executes on its own; rag-embed's recommendation waits for a decision. Then every dashboard
panel's and annotation's query returns data, every metric the dashboards name has series (but the Temporal
SDK's failure counters, which exist only once something has failed: their panels fall back to zero per
type), and every alert rule of deploy/prometheus/rules is loaded and evaluates without error."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from optiinfra.engine.client import connect_temporal
from tests.portal.stack import PortalStack, portal_stack, start_pending, wait_for_recommendation
from tests.support.dashboards import Query, queries
from tests.support.openai_stub import answer, serving_openai_stub
from tests.support.prometheus import running_prometheus, scraped_since
from workflows.contracts import RollbackRequest
from workflows.rollback import RollbackWorkflow, rollback_workflow_id

pytestmark = pytest.mark.real_prometheus

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "optiinfra.rules.yml"
EXPLANATION = json.dumps(
    {"summary": "The replicas are larger than their load needs.", "key_factors": ["low load"], "risks": []}
)
ONLY_AFTER_A_FAILURE = frozenset(
    {"temporal_workflow_failed_total", "temporal_activity_execution_failed_total"}
)
SETTLE_TIMEOUT_S = 90


def _host(url: str) -> str:
    return url.removeprefix("http://").split("/", 1)[0]


async def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {response.text[:500]}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def _until_answered(prometheus: str, wanted: list[Query]) -> dict[str, list[Query]]:
    """Polls until every query returns data; gives the ones that never did, per dashboard."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    left = list(wanted)
    while left and time.monotonic() < deadline:
        answered = [
            await _query(prometheus, q.for_prometheus(rate_interval="5m", range_="15m")) for q in left
        ]
        left = [q for q, result in zip(left, answered, strict=True) if not result]
        if left:
            await asyncio.sleep(2)
    missing: dict[str, list[Query]] = {}
    for query in left:
        missing.setdefault(query.dashboard, []).append(query)
    return missing


async def _exercise(stack: PortalStack) -> None:
    """One change executed and rolled back, one executed on its own, one waiting for approval."""
    async with stack.api() as api:
        rolled_back = await start_pending(api, "support-bot")
        approved = await api.post(
            f"/v1/recommendations/{rolled_back.id}/approve",
            json={"reason": "its load varies through the day"},
        )
        assert approved.status_code == 202, approved.text
        started = await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "chat-8b"})
        assert started.status_code == 201, started.text
        await start_pending(api, "rag-embed")
        await wait_for_recommendation(api, rolled_back.id, {"executed"}, timeout_s=180)
        client = await connect_temporal(stack.running.settings)
        undone = await client.execute_workflow(
            RollbackWorkflow.run,
            RollbackRequest(recommendation_id=rolled_back.id, reason="the dashboards' test undoes it"),
            id=rollback_workflow_id(rolled_back.id),
            task_queue=stack.running.settings.temporal_task_queue,
        )
        assert undone.phase.value == "rolled_back", undone.failure_reason
        deadline = time.monotonic() + 180
        while True:
            listed = await api.get(
                "/v1/recommendations", params={"workload_id": "chat-8b", "status": "executed"}
            )
            if listed.json()["items"]:
                break
            assert time.monotonic() < deadline, "chat-8b's right-sizing was not executed within 180 s"
            await asyncio.sleep(1)


async def test_every_panel_returns_data_and_every_rule_evaluates_after_an_optimization(
    tmp_path: Path,
) -> None:
    with serving_openai_stub() as stub:
        stub.script(answer(EXPLANATION, prompt_tokens=300, completion_tokens=60))
        async with portal_stack(
            metrics_interval_seconds=5,
            fleet_metrics_refresh_seconds=1,
            llm_medium_url=stub.base_url,
            llm_medium_model="medium-model",
            llm_semantic_cache_enabled=False,
        ) as stack:
            worker = stack.running.worker_metrics_url
            assert worker is not None, "the embedded stack serves no worker metrics"
            jobs = {"optiinfra-api": [_host(stack.base_url)], "optiinfra-worker": [_host(worker)]}
            with running_prometheus(tmp_path / "prometheus", jobs, rule_files=[RULES]) as prometheus:
                await _exercise(stack)
                assert stub.requests, "no reasoning answer was asked of the language-model tier"
                after = time.time()
                deadline = time.monotonic() + 30
                while not all(scraped_since(prometheus, job, after) for job in jobs):
                    assert time.monotonic() < deadline, "Prometheus did not scrape the stack within 30 s"
                    await asyncio.sleep(0.5)

                everything = queries()
                missing = await _until_answered(prometheus, everything)
                assert not missing, {
                    board: [f"{q.title}: {q.expr}" for q in found] for board, found in missing.items()
                }
                names = set().union(*(q.metric_names() for q in everything)) - ONLY_AFTER_A_FAILURE
                absent = [n for n in sorted(names) if not await _query(prometheus, f"count({n})")]
                assert not absent, (absent, await _targets(prometheus))

                rules = await _rules(prometheus)
                assert {rule["name"] for rule in rules} == _alert_names()
                for rule in rules:
                    assert rule["health"] == "ok", rule
                    assert not rule["lastEvaluation"].startswith("0001-"), rule


async def _rules(prometheus: str) -> list[dict[str, Any]]:
    """The loaded alert rules once each has been evaluated at least once."""
    deadline = time.monotonic() + 30
    while True:
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"{prometheus}/api/v1/rules", params={"type": "alert"}, timeout=10)).json()
        rules: list[dict[str, Any]] = [r for g in body["data"]["groups"] for r in g["rules"]]
        if all(not r["lastEvaluation"].startswith("0001-") for r in rules) or time.monotonic() > deadline:
            return rules
        await asyncio.sleep(0.5)


async def _targets(prometheus: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{prometheus}/api/v1/targets", timeout=10)).json()
    return [
        {key: target.get(key) for key in ("scrapeUrl", "health", "lastError", "lastScrapeDuration")}
        for target in body["data"]["activeTargets"]
    ]


def _alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"]}
