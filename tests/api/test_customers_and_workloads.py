"""Registering customers and workloads through the API, as a production user does."""

import httpx
import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WORKLOAD = {"name": "Chat", "model_name": "meta-llama/Llama-3.1-8B-Instruct", "region": "us-west-2"}


async def test_a_new_customer_starts_in_advisory_mode_and_owns_its_workloads(api: httpx.AsyncClient) -> None:
    created = await api.put("/v1/customers/acme", json={"name": "Acme"})
    assert created.status_code == 200
    assert created.json()["automation"]["operating_mode"] == "advisory"
    assert (await api.put("/v1/customers/acme/workloads/chat", json=WORKLOAD)).status_code == 200

    listed = (await api.get("/v1/workloads", params={"customer_id": "acme"})).json()["items"]
    assert [(w["customer_id"], w["workload_id"], w["region"]) for w in listed] == [
        ("acme", "chat", "us-west-2")
    ]
    customers = (await api.get("/v1/customers")).json()["items"]
    assert [c["customer_id"] for c in customers] == ["acme"]


async def test_changing_the_operating_mode_keeps_the_customer(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/acme", json={"name": "Acme"})
    changed = await api.put(
        "/v1/customers/acme",
        json={
            "name": "Acme",
            "automation": {"operating_mode": "semi_autonomous", "auto_execute_min_confidence": 0.9},
        },
    )
    assert changed.json()["automation"]["operating_mode"] == "semi_autonomous"
    assert len((await api.get("/v1/customers")).json()["items"]) == 1


async def test_a_workload_needs_a_known_customer(api: httpx.AsyncClient) -> None:
    response = await api.put("/v1/customers/ghost/workloads/chat", json=WORKLOAD)
    assert response.status_code == 404
    assert "unknown customer ghost" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/customers/acme", {"name": "Acme", "automation": {"operating_mode": "yolo"}}, "operating_mode"),
        (
            "/v1/customers/acme",
            {"name": "Acme", "automation": {"auto_execute_min_confidence": 2}},
            "less than",
        ),
        ("/v1/customers/Not_Valid", {"name": "x"}, "pattern"),
        ("/v1/customers/acme/workloads/chat", {**WORKLOAD, "region": "mars"}, "region"),
        ("/v1/customers/acme/workloads/chat", {**WORKLOAD, "min_on_demand_instances": -1}, "greater than"),
    ],
)
async def test_bad_registrations_get_422(
    api: httpx.AsyncClient, path: str, body: dict[str, object], reason: str
) -> None:
    await api.put("/v1/customers/acme", json={"name": "Acme"})
    response = await api.put(path, json=body)
    assert response.status_code == 422
    assert reason in response.text


async def test_a_gpu_budget_is_kept_with_the_customer_and_audited(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/acme", json={"name": "Acme"})
    budget = {"max_gpus": 64, "max_monthly_usd": 250000.0}
    changed = await api.put("/v1/customers/acme", json={"name": "Acme", "budget": budget})
    assert changed.status_code == 200
    assert (await api.get("/v1/customers/acme")).json()["budget"] == budget
    (line,) = (await api.get("/v1/audit", params={"action": "customer.updated"})).json()["items"]
    assert (line["before"]["budget"], line["after"]["budget"]) == (
        {"max_gpus": None, "max_monthly_usd": None},
        budget,
    )
    for bad in ({"max_gpus": -1}, {"max_monthly_usd": -5}, {"max_gpus": 2**31}, {"gpus": 4}):
        refused = await api.put("/v1/customers/acme", json={"name": "Acme", "budget": bad})
        assert refused.status_code == 422, bad
