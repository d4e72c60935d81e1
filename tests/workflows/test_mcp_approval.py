"""An engineer's assistant works with OptiInfra over MCP, with the engineer's keys: an operator key starts
the cost run, a viewer key cannot approve what it finds, an approver key can, and the workflow executes it
with the key's principal as the approver. The API is served over real HTTP; the client is the `mcp`
package's own."""

from collections.abc import AsyncIterator

import pytest

from api.app import create_app
from optiinfra.access.principal import Role
from optiinfra.store import repository
from optiinfra.store.api_keys import create_api_key, key_principal_name
from tests.support.served_api import answer_of, mcp_client, refusal_of, served
from tests.workflows.conftest import Harness, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase


@pytest.fixture
async def served_api(harness: Harness) -> AsyncIterator[str]:
    async with served(create_app(harness.settings, client=harness.client, sessions=harness.sessions)) as url:
        yield url


async def _key(harness: Harness, role: Role) -> tuple[str, str]:
    """A `demo` key of this role: (its token, the principal it stands for)."""
    async with harness.sessions.begin() as session:
        key, token = await create_api_key(
            session=session,
            customer_id="demo",
            role=role,
            name=f"assistant-{role.value}",
            created_by="test",
            expires_at=None,
        )
    return token, key_principal_name(key.key_id, key.name)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_assistant_starts_a_run_and_only_an_approver_key_approves_it(
    harness: Harness, served_api: str
) -> None:
    (operator, operator_name), (viewer, viewer_name), (approver, approver_name) = [
        await _key(harness, role) for role in (Role.OPERATOR, Role.VIEWER, Role.APPROVER)
    ]
    async with mcp_client(served_api, operator) as mcp:
        started = answer_of(
            await mcp.call_tool("start_optimization", {"customer_id": "demo", "workload_id": "code-assist"})
        )
    workflow_id = started["workflow_id"]
    assert workflow_id.startswith("opt/demo/code-assist/cost/")
    async with harness.sessions() as session:
        audit = await repository.list_audit(session=session, subject="demo/code-assist")
    assert [(a.actor, a.action) for a in audit] == [(operator_name, "optimization.started")]
    handle = harness.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)

    async with mcp_client(served_api, viewer) as mcp:
        waiting = answer_of(await mcp.call_tool("list_recommendations", {"status": "pending_approval"}))
        (item,) = [i for i in waiting["items"] if i["workflow_id"] == workflow_id]
        refused = refusal_of(
            await mcp.call_tool("approve_recommendation", {"recommendation_id": item["id"], "reason": "ok"})
        )
        assert refused == f"{viewer_name} is a viewer; this needs approver"
        shown = answer_of(await mcp.call_tool("show_recommendation", {"recommendation_id": item["id"]}))
        assert (shown["status"], shown["approval"]) == ("pending_approval", None)
        previewed = answer_of(
            await mcp.call_tool("preview_recommendation", {"recommendation_id": item["id"]})
        )
        assert not previewed["superseded"]
        assert [(s["step_id"], s["compensation"]) for s in previewed["steps"]] == [
            (s["step_id"], s["compensation"]) for s in shown["steps"]
        ]
    status = await handle.query(AgentOptimizationWorkflow.get_status)
    assert status.phase is WorkflowPhase.PENDING_APPROVAL

    async with mcp_client(served_api, approver) as mcp:
        approved = answer_of(
            await mcp.call_tool(
                "approve_recommendation",
                {
                    "recommendation_id": item["id"],
                    "reason": "spot is fine here",
                    "note": "ana via her assistant",
                },
            )
        )
        assert approved == {
            "recommendation_id": item["id"],
            "workflow_id": workflow_id,
            "decision": "approve",
        }
        result = await handle.result()
        assert result.phase is WorkflowPhase.EXECUTED
        assert result.approval is not None
        assert (result.approval.approver, result.approval.note) == (approver_name, "ana via her assistant")

        shown = answer_of(await mcp.call_tool("show_recommendation", {"recommendation_id": item["id"]}))
        assert shown["status"] == "executed"
        assert shown["approval"]["approver"] == approver_name
        followed = answer_of(await mcp.call_tool("get_optimization_status", {"workflow_id": workflow_id}))
        assert followed["phase"] == "executed"
        # A second decision is refused, naming the one that won.
        again = refusal_of(
            await mcp.call_tool(
                "reject_recommendation", {"recommendation_id": item["id"], "reason": "too late"}
            )
        )
        assert f"already approved by {approver_name} (ana via her assistant) at " in again
