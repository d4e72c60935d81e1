"""GET /v1/conflicts and POST /v1/joint-optimizations on the real store and dev server: stored conflicts
are listed newest first and filtered; a joint optimization of a registered workload starts with a
`joint/<customer>/<workload>/<n>` id, an unknown workload is a 404, a bad body a 422 that says why; both
routes need the token."""

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from agents.coordination.conflicts import detect_conflicts
from agents.coordination.resolution import resolve_by_rules
from optiinfra.domain.coordination import CustomerConstraints
from optiinfra.domain.enums import AgentKind
from optiinfra.store.conflicts import record_conflicts
from tests.agents.coordination import right_sizing, scale_up
from workflows.contracts import ConflictRecord, JointOptimizationRequest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Sessions = async_sessionmaker[AsyncSession]
WORKLOAD = {"name": "Chat", "model_name": "meta-llama/Llama-3.1-8B-Instruct", "region": "us-west-2"}


async def store(sessions: Sessions, workflow_id: str, customer_id: str, workload_id: str) -> None:
    candidates = [scale_up(), right_sizing()]
    conflicts = detect_conflicts(candidates)
    plan = resolve_by_rules(candidates, conflicts, CustomerConstraints())
    async with sessions.begin() as session:
        await record_conflicts(
            session=session,
            record=ConflictRecord(
                joint_workflow_id=workflow_id,
                customer_id=customer_id,
                workload_id=workload_id,
                conflicts=conflicts,
                resolutions=plan.resolutions,
            ),
        )


@pytest.fixture
async def stored(api_sessions: Sessions) -> list[str]:
    """Three joint runs' conflicts, oldest first."""
    runs = [
        ("joint/acme/chat-8b/1", "acme", "chat-8b"),
        ("joint/globex/chat-8b/1", "globex", "chat-8b"),
        ("joint/acme/summarize/1", "acme", "summarize"),
    ]
    for run in runs:
        await store(api_sessions, *run)
    return [workflow_id for workflow_id, _, _ in runs]


async def test_conflicts_are_listed_newest_first_with_their_resolutions(
    api: httpx.AsyncClient, stored: list[str]
) -> None:
    response = await api.get("/v1/conflicts")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["joint_workflow_id"] for item in items] == stored[::-1]
    item = items[0]
    assert (item["customer_id"], item["workload_id"]) == ("acme", "summarize")
    assert item["conflict"]["conflict_id"] == "c1"
    assert item["conflict"]["kind"] == "opposite_scaling"
    assert item["conflict"]["agents"] == ["performance", "cost"]
    assert item["conflict"]["titles"] == [scale_up().title, right_sizing().title]
    resolution = item["resolution"]
    assert (resolution["method"], resolution["winner"], resolution["set_aside"]) == (
        "priority",
        "performance",
        ["cost"],
    )
    assert resolution["written_by"] == "rules"
    assert item["created_at"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"customer_id": "acme"}, ["joint/acme/summarize/1", "joint/acme/chat-8b/1"]),
        ({"workload_id": "chat-8b"}, ["joint/globex/chat-8b/1", "joint/acme/chat-8b/1"]),
        ({"customer_id": "acme", "workload_id": "chat-8b"}, ["joint/acme/chat-8b/1"]),
        ({"customer_id": "initech"}, []),
        ({"limit": "1"}, ["joint/acme/summarize/1"]),
    ],
)
async def test_conflicts_are_filtered(
    api: httpx.AsyncClient, stored: list[str], params: dict[str, str], expected: list[str]
) -> None:
    response = await api.get("/v1/conflicts", params=params)
    assert response.status_code == 200, response.text
    assert [item["joint_workflow_id"] for item in response.json()["items"]] == expected


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"customer_id": "Acme Inc!"}, "pattern"),
        ({"workload_id": "chat_8b"}, "pattern"),
        ({"limit": "0"}, "greater than or equal to 1"),
        ({"limit": "1001"}, "less than or equal to 500"),
    ],
)
async def test_bad_conflict_filters_get_422(
    api: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    response = await api.get("/v1/conflicts", params=params)
    assert response.status_code == 422
    assert reason in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/conflicts"),
        ("POST", "/v1/joint-optimizations"),
        ("GET", "/v1/joint-optimizations/joint/acme/chat-8b/1"),
    ],
)
async def test_the_routes_need_the_token(api: httpx.AsyncClient, method: str, path: str) -> None:
    api.headers.pop("Authorization")
    response = await api.request(method, path, json={"customer_id": "acme", "workload_id": "chat-8b"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_joint_optimization_of_an_unknown_workload_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/joint-optimizations", json={"customer_id": "nobody", "workload_id": "x"})
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown workload nobody/x"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"agents": ["cost", "performance", "cost"]}, "each agent may appear once"),
        ({"agents": []}, "at least 1"),
        ({"agents": ["finance"]}, "agents"),
        ({"mode": "execute"}, "Extra inputs are not permitted"),
        ({"constraints": {"max_monthly_cost_increase_usd": -1}}, "greater than or equal to 0"),
        ({"constraints": {"min_slo_compliance": 1.5}}, "less than or equal to 1"),
        ({"constraints": {"joint_reasoning": True, "budget": 5}}, "budget"),
        ({"customer_id": "Acme Inc!"}, "pattern"),
    ],
    ids=[
        "duplicate-agents",
        "no-agents",
        "unknown-agent",
        "extra-field",
        "negative-cost-cap",
        "compliance-over-1",
        "unknown-constraint",
        "bad-customer-id",
    ],
)
async def test_bad_joint_bodies_get_422_with_the_reason(
    api: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    response = await api.post(
        "/v1/joint-optimizations", json={"customer_id": "acme", "workload_id": "chat-8b", **body}
    )
    assert response.status_code == 422, response.text
    assert reason in response.text


@pytest.fixture
async def registered(api: httpx.AsyncClient, temporal_client: Client) -> AsyncIterator[tuple[str, list[str]]]:
    """A customer (fresh per test: the dev server outlives the test's store) with workload `chat`, and a
    list to which tests add the workflow ids they start, terminated at the end (no worker polls the
    API tests' task queue)."""
    customer_id = f"c-{uuid4().hex[:10]}"
    assert (await api.put(f"/v1/customers/{customer_id}", json={"name": "Acme"})).status_code == 200
    assert (await api.put(f"/v1/customers/{customer_id}/workloads/chat", json=WORKLOAD)).status_code == 200
    started: list[str] = []
    yield customer_id, started
    for workflow_id in started:
        await temporal_client.get_workflow_handle(workflow_id).terminate(reason="api test over")


async def test_a_joint_optimization_starts_with_a_numbered_id(
    api: httpx.AsyncClient, temporal_client: Client, registered: tuple[str, list[str]]
) -> None:
    customer_id, started = registered
    body = {
        "customer_id": customer_id,
        "workload_id": "chat",
        "agents": ["performance", "cost"],
        "constraints": {"max_monthly_cost_increase_usd": 1000, "joint_reasoning": True},
    }
    first = await api.post("/v1/joint-optimizations", json=body)
    assert first.status_code == 201, first.text
    started.append(first.json()["workflow_id"])
    second = await api.post("/v1/joint-optimizations", json=body)
    assert second.status_code == 201, second.text
    started.append(second.json()["workflow_id"])

    assert started == [f"joint/{customer_id}/chat/1", f"joint/{customer_id}/chat/2"]
    handle = temporal_client.get_workflow_handle(started[0])
    description = await handle.describe()
    assert description.workflow_type == "JointOptimizationWorkflow"
    assert description.task_queue == "api-tests"
    # The workflow got the request as posted, constraints included.
    history = await handle.fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    [request] = await temporal_client.data_converter.decode(payloads, [JointOptimizationRequest])
    assert isinstance(request, JointOptimizationRequest)
    assert (request.customer_id, request.workload_id) == (customer_id, "chat")
    assert request.agents == [AgentKind.PERFORMANCE, AgentKind.COST]
    assert request.constraints == CustomerConstraints(
        max_monthly_cost_increase_usd=1000.0, joint_reasoning=True
    )


async def test_status_of_an_unknown_joint_optimization_is_404(api: httpx.AsyncClient) -> None:
    workflow_id = f"joint/nobody-{uuid4().hex[:8]}/chat/1"
    response = await api.get(f"/v1/joint-optimizations/{workflow_id}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"no JointOptimizationWorkflow {workflow_id}"
