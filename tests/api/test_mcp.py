"""The MCP endpoint at /mcp, reached over real HTTP with the `mcp` package's client: the same credentials as
the HTTP routes (anything else is a 401 before the MCP layer), the same roles, and the same tenants: a
customer's key never sees another customer's recommendation, which is "not found" exactly as a missing one.
The approval that reaches a running workflow is tests/workflows/test_mcp_approval.py."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from optiinfra.access.principal import Role
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.api_keys import key_principal_name
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import Tenants, make_tenants
from tests.optiinfra.store import factories
from tests.support.served_api import answer_of, mcp_client, refusal_of, served

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOOLS = {
    "list_recommendations",
    "show_recommendation",
    "preview_recommendation",
    "approve_recommendation",
    "reject_recommendation",
    "start_optimization",
    "list_optimizations",
    "get_optimization_status",
    "savings_report",
    "slo_report",
    "inference_cost_report",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}


@dataclass(frozen=True)
class Served:
    url: str
    tenants: Tenants

    def key(self, customer: str, role: Role) -> str:
        return self.tenants.keys[customer][role]

    def principal(self, customer: str, role: Role) -> str:
        return key_principal_name(self.tenants.key_ids[customer][role], f"{role.value}-key")


@pytest.fixture
async def served_api(
    api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession], temporal_client: Client
) -> AsyncIterator[Served]:
    """Two customers (acme, globex) with a key of every role and a recommendation each that waits for a
    decision, and the API over HTTP."""
    tenants = await make_tenants(api)
    async with api_sessions.begin() as session:
        for customer in ("acme", "globex"):
            await repository.save_recommendation(
                session=session,
                recommendation=factories.recommendation(f"{customer}-rec", customer_id=customer),
            )
    settings = Settings(temporal_task_queue="api-tests", api_token=SecretStr(API_TOKEN))
    async with served(create_app(settings, client=temporal_client, sessions=api_sessions)) as url:
        yield Served(url=url, tenants=tenants)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_tools_are_listed_in_either_protocol_era(served_api: Served, mode: str) -> None:
    """`auto` speaks the stateless 2026 protocol; `legacy` the initialize handshake older clients use."""
    async with mcp_client(served_api.url, served_api.key("acme", Role.VIEWER), mode=mode) as mcp:
        listed = (await mcp.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    approve = next(tool for tool in listed if tool.name == "approve_recommendation")
    assert set(approve.input_schema["required"]) == {"recommendation_id", "reason"}
    assert all(tool.description for tool in listed)


async def test_a_missing_or_unknown_credential_is_a_401_before_the_mcp_layer(
    served_api: Served, api: httpx.AsyncClient
) -> None:
    revoked = served_api.tenants.key_ids["acme"][Role.ADMIN]
    assert (await api.delete(f"/v1/customers/acme/api-keys/{revoked}")).status_code == 200
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=served_api.url, headers=headers) as http:
        for credential, detail in [
            (None, "missing or invalid bearer credential"),
            ("Bearer", "missing or invalid bearer credential"),
            ("Basic dXNlcjpwYXNz", "missing or invalid bearer credential"),
            ("Bearer not-a-credential", "missing or invalid bearer credential"),
            (f"Bearer {served_api.key('acme', Role.ADMIN)}", "unknown, revoked or expired API key"),
        ]:
            answer = await http.post(
                "/mcp", json=INITIALIZE, headers={"Authorization": credential} if credential else {}
            )
            assert answer.status_code == 401, (credential, answer.text)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert answer.json() == {"detail": detail}
        # The same request with a live key is answered by the MCP layer.
        live = await http.post(
            "/mcp",
            json=INITIALIZE,
            headers={"Authorization": f"Bearer {served_api.key('acme', Role.VIEWER)}"},
        )
        assert live.status_code == 200, live.text
        assert live.json()["result"]["serverInfo"]["name"] == "optiinfra"
        # /mcp is not an operation of the OpenAPI document.
        assert "/mcp" not in (await http.get("/openapi.json")).json()["paths"]


async def test_each_tool_needs_the_role_its_route_needs(served_api: Served) -> None:
    async with mcp_client(served_api.url, served_api.key("acme", Role.VIEWER)) as viewer:
        refused = refusal_of(
            await viewer.call_tool(
                "approve_recommendation", {"recommendation_id": "acme-rec", "reason": "ok"}
            )
        )
        assert refused == f"{served_api.principal('acme', Role.VIEWER)} is a viewer; this needs approver"
        refused = refusal_of(
            await viewer.call_tool("reject_recommendation", {"recommendation_id": "acme-rec", "reason": "no"})
        )
        assert refused.endswith("is a viewer; this needs approver")
        # Nothing was decided: the recommendation still waits.
        shown = answer_of(await viewer.call_tool("show_recommendation", {"recommendation_id": "acme-rec"}))
        assert (shown["status"], shown["approval"]) == ("pending_approval", None)
        assert [step["compensation"]["action"] for step in shown["steps"]] == ["terminate_launched"] * 2
    async with mcp_client(served_api.url, served_api.key("acme", Role.APPROVER)) as approver:
        refused = refusal_of(
            await approver.call_tool("start_optimization", {"customer_id": "acme", "workload_id": "chat"})
        )
        assert refused == f"{served_api.principal('acme', Role.APPROVER)} is a approver; this needs operator"
    async with mcp_client(served_api.url, served_api.key("acme", Role.OPERATOR)) as operator:
        unknown = refusal_of(
            await operator.call_tool("start_optimization", {"customer_id": "acme", "workload_id": "nope"})
        )
        assert "nope" in unknown
        # Inputs are checked against the tool's schema before the tool runs.
        bad = refusal_of(
            await operator.call_tool("start_optimization", {"customer_id": "Acme!", "workload_id": "chat"})
        )
        assert "customer_id" in bad
        repeated = refusal_of(
            await operator.call_tool(
                "start_optimization",
                {"customer_id": "acme", "workload_id": "chat", "agents": ["cost", "cost"]},
            )
        )
        assert "each agent may appear once" in repeated


async def test_a_customers_key_never_sees_another_customers_recommendation(served_api: Served) -> None:
    async with mcp_client(served_api.url, served_api.key("acme", Role.ADMIN)) as acme:
        listed = answer_of(await acme.call_tool("list_recommendations", {}))
        assert [item["id"] for item in listed["items"]] == ["acme-rec"]
        assert listed["total"] == 1
        narrowed = refusal_of(await acme.call_tool("list_recommendations", {"customer_id": "globex"}))
        assert narrowed == f"{served_api.principal('acme', Role.ADMIN)} belongs to customer acme, not globex"
        # Another customer's recommendation is not found, word for word as one that does not exist.
        for tool, arguments in [
            ("show_recommendation", {}),
            ("approve_recommendation", {"reason": "mine now"}),
            ("reject_recommendation", {"reason": "mine now"}),
        ]:
            theirs = refusal_of(await acme.call_tool(tool, {"recommendation_id": "globex-rec", **arguments}))
            missing = refusal_of(
                await acme.call_tool(tool, {"recommendation_id": "no-such-rec", **arguments})
            )
            assert theirs == "no recommendation globex-rec", tool
            assert missing == "no recommendation no-such-rec", tool
        other = refusal_of(
            await acme.call_tool("start_optimization", {"customer_id": "globex", "workload_id": "chat"})
        )
        assert other.endswith("belongs to customer acme, not globex")
        runs = answer_of(await acme.call_tool("list_optimizations", {"status": "pending_approval"}))
        assert runs["items"] == []
        other = refusal_of(await acme.call_tool("list_optimizations", {"customer_id": "globex"}))
        assert other.endswith("belongs to customer acme, not globex")
        missing = refusal_of(
            await acme.call_tool("get_optimization_status", {"workflow_id": "opt/globex/x/cost/1"})
        )
        assert missing == "no AgentOptimizationWorkflow opt/globex/x/cost/1"
    # globex's recommendation was not touched, and the platform token sees both customers'.
    async with mcp_client(served_api.url, API_TOKEN) as platform:
        shown = answer_of(
            await platform.call_tool("show_recommendation", {"recommendation_id": "globex-rec"})
        )
        assert (shown["status"], shown["approval"]) == ("pending_approval", None)
        listed = answer_of(await platform.call_tool("list_recommendations", {"status": "pending_approval"}))
        assert {item["customer_id"] for item in listed["items"]} == {"acme", "globex"}


async def test_the_reports_answer_for_the_callers_customer_only(served_api: Served) -> None:
    async with mcp_client(served_api.url, served_api.key("acme", Role.VIEWER)) as acme:
        for report in ("savings_report", "slo_report", "inference_cost_report"):
            answer = answer_of(
                await acme.call_tool(
                    report, {"since": "2026-11-01", "until": "2026-11-08", "workload_id": "chat"}
                )
            )
            assert (answer["since"], answer["until"]) == ("2026-11-01", "2026-11-08"), report
            assert answer["basis"], report  # what each figure is made from
            other = refusal_of(await acme.call_tool(report, {"customer_id": "globex"}))
            assert (
                other == f"{served_api.principal('acme', Role.VIEWER)} belongs to customer acme, not globex"
            )
            backwards = refusal_of(
                await acme.call_tool(report, {"since": "2026-11-08", "until": "2026-11-01"})
            )
            assert backwards == "since: since must come before until (until is excluded)", report
            not_a_day = refusal_of(await acme.call_tool(report, {"since": 1764547200}))
            assert "since" in not_a_day, report
