"""A person approves through the API; the decision reaches the workflow as its `decide` update, taken as
the authenticated principal; the Temporal CLI finds waiting workflows by the OptiStatus search attribute.
Run on SQLite and PostgreSQL."""

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from optiinfra.access.principal import PLATFORM_TOKEN_PRINCIPAL, Role
from optiinfra.engine.devserver import DevServer, temporal_cli_path
from optiinfra.store import repository
from optiinfra.store.api_keys import create_api_key, key_principal_name
from tests.support.asgi import api_client
from tests.workflows.conftest import Harness, fleet_state, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

TOKEN = "approval-test-token"


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(
        harness.settings, token=TOKEN, client=harness.client, sessions=harness.sessions
    ) as http:
        yield http


def cli_list(server: DevServer, query: str) -> list[str]:
    listed = subprocess.run(
        [
            str(temporal_cli_path()),
            "workflow",
            "list",
            "--address",
            server.address,
            "--query",
            query,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    rows = json.loads(listed.stdout or "[]")
    return [row["execution"]["workflowId"] for row in rows]


async def eventually_listed(server: DevServer, query: str, workflow_id: str, timeout_s: float = 20) -> None:
    """Visibility is eventually consistent: poll until the CLI sees the workflow."""
    deadline = time.monotonic() + timeout_s
    while workflow_id not in cli_list(server, query):
        if time.monotonic() > deadline:
            raise AssertionError(f"`temporal workflow list --query {query!r}` never listed {workflow_id}")
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_approval_through_the_api_reaches_the_workflow_as_an_update(
    harness: Harness, api: httpx.AsyncClient, temporal_dev_server: DevServer
) -> None:
    originals = harness.cloud.seeded.instance_ids["code-assist"]
    before = fleet_state(harness.fleet)
    started = await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "code-assist"})
    assert started.status_code == 201
    workflow_id = started.json()["workflow_id"]
    assert workflow_id.startswith("opt/demo/code-assist/cost/")
    handle = harness.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)

    await eventually_listed(temporal_dev_server, 'OptiStatus="pending_approval"', workflow_id)
    await eventually_listed(
        temporal_dev_server,
        'OptiCustomer="demo" AND OptiWorkload="code-assist" AND OptiSavingsUsd > 100',
        workflow_id,
    )
    waiting = (await api.get("/v1/recommendations", params={"status": "pending_approval"})).json()["items"]
    (item,) = [i for i in waiting if i["workflow_id"] == workflow_id]
    assert item["type"] == "spot_migration"
    assert item["estimated_monthly_savings_usd"] > 0
    assert fleet_state(harness.fleet) == before  # nothing moves while the recommendation waits

    approved = await api.post(
        f"/v1/recommendations/{item['id']}/approve", json={"approver": "ana", "reason": "spot is fine here"}
    )
    assert approved.status_code == 202
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED
    assert status.approval is not None
    assert (status.approval.approver, status.approval.note) == (PLATFORM_TOKEN_PRINCIPAL.name, "ana")
    history = await handle.fetch_history()
    handled = [
        (e.event_type, e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name)
        for e in history.events
        if e.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        )
    ]
    assert handled == [(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, "decide")]
    after = fleet_state(harness.fleet)
    running = [
        i
        for i in await harness.fleet.describe_workload_instances("demo", "code-assist")
        if i.state == "running"
    ]
    # The replicas now run in the workload's spot group: two on-demand as its base, two on spot.
    assert sorted(i.lifecycle.value for i in running) == ["on_demand", "on_demand", "spot", "spot"]
    assert not {i.instance_id for i in running} & set(originals)
    assert {after[i][1] for i in originals} == {"terminated"}

    detail = (await api.get(f"/v1/recommendations/{item['id']}")).json()
    assert detail["status"] == "executed"
    assert (detail["approval"]["approver"], detail["approval"]["note"]) == (
        PLATFORM_TOKEN_PRINCIPAL.name,
        "ana",
    )
    assert detail["outcome"]["verification_passed"] is True
    again = await api.post(
        f"/v1/recommendations/{item['id']}/approve", json={"approver": "bo", "reason": "me too"}
    )
    assert again.status_code == 409
    assert "not pending_approval" in again.json()["detail"]
    assert f"already approved by {PLATFORM_TOKEN_PRINCIPAL.name} (ana) at " in again.json()["detail"]
    async with harness.sessions() as session:
        audit = await repository.list_audit(session=session, subject=item["id"])
    decisions = [
        (a.actor, a.action, a.detail.get("note"))
        for a in audit
        if a.action in ("recommendation.approved", "recommendation.approve_refused")
    ]
    assert decisions == [
        (PLATFORM_TOKEN_PRINCIPAL.name, "recommendation.approved", "ana"),
        (PLATFORM_TOKEN_PRINCIPAL.name, "recommendation.approve_refused", "bo"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_fifty_concurrent_approvals_over_http_one_202_and_the_key_is_the_approver(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    """Through HTTP as people do it: one approver key wins, 49 callers get 409 naming it, a viewer key is
    refused outright, and the audit names the key's principal, never the body's free text."""
    async with harness.sessions.begin() as session:
        approver_key, approver_token = await create_api_key(
            session=session,
            customer_id="demo",
            role=Role.APPROVER,
            name="oncall",
            created_by="test",
            expires_at=None,
        )
        _, viewer_token = await create_api_key(
            session=session,
            customer_id="demo",
            role=Role.VIEWER,
            name="dash",
            created_by="test",
            expires_at=None,
        )
    started = await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "code-assist"})
    handle = harness.client.get_workflow_handle_for(
        AgentOptimizationWorkflow.run, started.json()["workflow_id"]
    )
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None
    path = f"/v1/recommendations/{waiting.recommendation.recommendation_id}/approve"

    as_viewer = await api.post(
        path, json={"reason": "ok"}, headers={"Authorization": f"Bearer {viewer_token}"}
    )
    assert as_viewer.status_code == 403
    answers = await asyncio.gather(
        *(
            api.post(
                path,
                json={"reason": f"attempt {n}", "approver": "someone else entirely"},
                headers={"Authorization": f"Bearer {approver_token}"},
            )
            for n in range(50)
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [202] + [409] * 49
    principal = key_principal_name(approver_key.key_id, approver_key.name)
    for answer in answers:
        if answer.status_code == 409:
            assert f"already approved by {principal} (someone else entirely) at " in answer.json()["detail"]
    status = await handle.result()
    assert status.phase is WorkflowPhase.EXECUTED
    assert status.approval is not None and status.approval.approver == principal
    async with harness.sessions() as session:
        audit = await repository.list_audit(session=session, subject=waiting.recommendation.recommendation_id)
    assert [(a.actor, a.action) for a in audit if a.action == "recommendation.approved"] == [
        (principal, "recommendation.approved")
    ]
    assert len([a for a in audit if a.action == "recommendation.approve_refused"]) == 49
    assert [a.action for a in audit].count("recommendation.executing") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_preview_shows_each_step_against_the_fleet_read_now(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    started = await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "code-assist"})
    handle = harness.client.get_workflow_handle_for(
        AgentOptimizationWorkflow.run, started.json()["workflow_id"]
    )
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None
    before = fleet_state(harness.fleet)

    response = await api.get(f"/v1/recommendations/{waiting.recommendation.recommendation_id}/preview")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert [s["step_id"] for s in shown["steps"]] == [s.step_id for s in waiting.recommendation.steps]
    assert not shown["superseded"]
    live = {
        i.instance_id: f"{i.instance_type}, {i.state}"
        for i in await harness.fleet.describe_workload_instances("demo", "code-assist")
    }
    on_instances = [s for s in shown["steps"] if s["target"] in live]
    assert on_instances, shown
    for step in on_instances:  # the instance as the cloud has it now, and what the step leaves
        assert step["now"] == live[step["target"]]
        assert step["after"] and step["still_fits"]
    for step, planned in zip(shown["steps"], waiting.recommendation.steps, strict=True):
        expected = None if planned.compensation is None else planned.compensation.model_dump(mode="json")
        assert step["compensation"] == expected
    assert fleet_state(harness.fleet) == before  # a preview reads, it changes nothing
