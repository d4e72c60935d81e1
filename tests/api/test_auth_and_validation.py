"""Every /v1 route needs the bearer token; bad bodies get a 422 that says why; nothing is started."""

import httpx
import pytest

from tests.api.conftest import API_TOKEN

V1_ROUTES = [
    ("POST", "/v1/optimizations"),
    ("GET", "/v1/optimizations/opt/demo/chat/cost/1"),
    ("GET", "/v1/recommendations"),
    ("GET", "/v1/recommendations/abc"),
    ("POST", "/v1/recommendations/abc/approve"),
    ("POST", "/v1/recommendations/abc/reject"),
    ("GET", "/v1/workloads"),
    ("GET", "/v1/customers"),
    ("PUT", "/v1/customers/acme"),
    ("PUT", "/v1/customers/acme/workloads/chat"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {API_TOKEN}"])
async def test_v1_routes_refuse_requests_without_the_token(
    api: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    api.headers.pop("Authorization")
    response = await api.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_health_needs_no_token_and_reports_parts(api: httpx.AsyncClient) -> None:
    api.headers.pop("Authorization")
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "temporal": True, "database": True}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"workload_id": "chat", "agents": ["cost"]}, "customer_id"),
        ({"customer_id": "demo", "workload_id": "chat", "agents": ["finance"]}, "agents"),
        ({"customer_id": "demo", "workload_id": "chat", "agents": []}, "at least 1"),
        (
            {"customer_id": "demo", "workload_id": "chat", "agents": ["cost", "cost"]},
            "each agent may appear once",
        ),
        ({"customer_id": "Demo Inc!", "workload_id": "chat", "agents": ["cost"]}, "pattern"),
        ({"customer_id": "demo", "workload_id": "chat", "agents": ["cost"], "mode": "yolo"}, "mode"),
    ],
)
async def test_bad_optimization_bodies_get_422_with_the_reason(
    api: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    response = await api.post("/v1/optimizations", json=body)
    assert response.status_code == 422
    assert reason in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_malformed_json_gets_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/optimizations", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "json" in response.text.lower()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_unknown_workload_is_404_and_unknown_recommendation_is_404(api: httpx.AsyncClient) -> None:
    started = await api.post("/v1/optimizations", json={"customer_id": "nobody", "workload_id": "x"})
    assert started.status_code == 404
    assert "unknown workload" in started.json()["detail"]
    decided = await api.post("/v1/recommendations/nope/approve", json={"reason": "looks right"})
    assert decided.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "reason"),
        ({"approver": "ana"}, "reason"),
        ({"reason": "  "}, "at least 1"),
        ({"reason": "fine", "extra": 1}, "extra"),
    ],
)
async def test_bad_decision_bodies_get_422(
    api: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    response = await api.post("/v1/recommendations/anything/approve", json=body)
    assert response.status_code == 422
    assert reason in response.text.lower()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_status_filter_is_validated(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/recommendations", params={"status": "pending_approval"})).status_code == 200
    response = await api.get("/v1/recommendations", params={"status": "maybe"})
    assert response.status_code == 422
    assert "pending_approval" in response.text
