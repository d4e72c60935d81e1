"""No input gets a 500: numbers JSON cannot hold or the store cannot keep are a 422 and store nothing, any
malformed credential a 401, a workflow of the wrong kind a 404, and a backing service that is down a 503
with Retry-After."""

import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import free_port, start_dev_server
from optiinfra.settings import Settings
from optiinfra.store.database import create_engine_for, session_factory
from optiinfra.store.tables import WorkflowRunRow
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import WORKLOAD
from tests.support.asgi import api_client

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RECORD = {"at": "2026-12-01T00:00:00Z", "model": "m", "context_tokens": 10, "generated_tokens": 5}


async def _customer_with_workload(api: httpx.AsyncClient, customer: str = "acme") -> None:
    assert (await api.put(f"/v1/customers/{customer}", json={"name": "Acme"})).status_code == 200
    assert (await api.put(f"/v1/customers/{customer}/workloads/chat", json=WORKLOAD)).status_code == 200


@SQLITE
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_a_non_finite_number_is_a_422_and_changes_nothing(api: httpx.AsyncClient, number: str) -> None:
    await _customer_with_workload(api)
    body = '{"name": "Chat", "model_name": "m", "region": "us-west-2", "slo_ttft_p95_s": NUMBER}'.replace(
        "NUMBER", number
    )
    response = await api.put(
        "/v1/customers/acme/workloads/chat", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert "number" in error["ctx"]["error"] or "float" in error["ctx"]["error"]
    (stored,) = (await api.get("/v1/workloads")).json()["items"]
    assert stored["slo_ttft_p95_s"] is None


@SQLITE
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("context_tokens", 2**63),  # beyond any integer column
        ("context_tokens", 2**31),  # beyond PostgreSQL's integer
        ("generated_tokens", 10**30),
    ],
)
async def test_an_integer_the_store_cannot_keep_is_a_422(
    api: httpx.AsyncClient, field: str, value: int
) -> None:
    await _customer_with_workload(api)
    response = await api.post(
        "/v1/customers/acme/workloads/chat/request-log", json={"records": [{**RECORD, field: value}]}
    )
    assert response.status_code == 422, response.text
    ok = await api.post("/v1/customers/acme/workloads/chat/request-log", json={"records": [RECORD]})
    assert ok.json() == {"accepted": 1}


@SQLITE
async def test_a_workload_with_too_many_on_demand_instances_is_a_422(api: httpx.AsyncClient) -> None:
    await _customer_with_workload(api)
    body = {**WORKLOAD, "min_on_demand_instances": 2**31}
    assert (await api.put("/v1/customers/acme/workloads/chat", json=body)).status_code == 422


@SQLITE
@pytest.mark.parametrize(
    "credential",
    [
        "Bearer caf\xe9-token".encode("latin-1"),
        "Bearer \xff\xfe".encode("latin-1"),
        b"Bearer oik_0123456789ab_\xe9",
        b"Bearer a.b.c",
        b"Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL25vLmV4YW1wbGUifQ.c2ln",
        b"Bearer ",
        b"Token x",
    ],
)
async def test_any_malformed_credential_is_a_401(api: httpx.AsyncClient, credential: bytes) -> None:
    api.headers.pop("Authorization")
    response = await api.get("/v1/workloads", headers=[(b"Authorization", credential)])
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"


@SQLITE
async def test_an_agent_run_on_the_joint_route_is_a_404(api: httpx.AsyncClient) -> None:
    customer = f"kind-{uuid4().hex[:8]}"
    await _customer_with_workload(api, customer)
    started = await api.post("/v1/optimizations", json={"customer_id": customer, "workload_id": "chat"})
    assert started.status_code == 201
    workflow_id = started.json()["workflow_id"]
    response = await api.get(f"/v1/joint-optimizations/{workflow_id}")
    assert response.status_code == 404
    assert "JointOptimizationWorkflow" in response.json()["detail"]
    listed = (await api.get("/v1/optimizations", params={"customer_id": customer})).json()
    assert workflow_id in [run["workflow_id"] for run in listed["items"]] or listed["total"] == 0


@SQLITE
async def test_the_engine_down_is_a_503_with_retry_after(
    api_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    server = start_dev_server(db_path=None, log_path=tmp_path / "temporal.log", headless=True)
    try:
        client = await connect_temporal(Settings(), server.address)
    finally:
        server.stop()
    async with api_client(Settings(), token=API_TOKEN, client=client, sessions=api_sessions) as api:
        started = time.monotonic()
        response = await api.get("/v1/optimizations")
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert "workflow engine" in response.json()["detail"]
        assert elapsed < 60
        health = (await api.get("/healthz")).json()
        assert health["temporal"] is False


async def test_the_database_down_is_a_503_with_retry_after(temporal_client: Client) -> None:
    engine = create_engine_for(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    try:
        sessions = session_factory(engine)
        async with api_client(
            Settings(),
            token=API_TOKEN,
            client=temporal_client,
            sessions=sessions,
        ) as api:
            response = await api.get("/v1/workloads")
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            assert "unreachable" in response.json()["detail"]
    finally:
        await engine.dispose()


@SQLITE
async def test_a_store_that_forgot_its_runs_takes_the_next_number_instead_of_a_500(
    api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A store restored from a backup (or reset) numbers runs again from where it was, while the engine
    still has the later runs: the start skips the numbers the engine holds."""
    customer = f"restored-{uuid4().hex[:8]}"
    await _customer_with_workload(api, customer)
    body = {"customer_id": customer, "workload_id": "chat"}
    first = await api.post("/v1/optimizations", json=body)
    assert first.json()["workflow_id"] == f"opt/{customer}/chat/cost/1"
    async with api_sessions.begin() as session:
        await session.execute(delete(WorkflowRunRow))  # the backup predates the first run
    again = await api.post("/v1/optimizations", json=body)
    assert again.status_code == 201, again.text
    assert again.json()["workflow_id"] == f"opt/{customer}/chat/cost/2"


@SQLITE
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/recommendations", "GET"),
        ("GET", "/v1/schedules/nightly/pause", "POST"),
        ("POST", "/v1/customers/acme", "GET, PUT"),
        ("PATCH", "/healthz", "GET"),
    ],
)
async def test_a_wrong_method_is_a_405_naming_every_method_of_the_path(
    api: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    """The routes of an included router count too (FastAPI keeps such a router as one route of its own)."""
    answered = await api.request(method, path)
    assert answered.status_code == 405
    assert answered.headers["allow"] == allowed
