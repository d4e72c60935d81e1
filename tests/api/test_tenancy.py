"""Tenants and roles: a customer's key never reads or changes another customer's data, whatever its role,
and each role does what it is for and no more."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.access.principal import Role
from optiinfra.store import repository
from optiinfra.store.api_keys import create_api_key
from tests.api.tenancy import WORKLOAD, Tenants, make_tenants
from tests.optiinfra.store import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OTHER = "globex"
# Every route, aimed at the other customer's data: (method, path, body). A customer's key must get 403 or
# 404 from each, whatever its role.
CROSS_TENANT = [
    ("GET", f"/v1/customers/{OTHER}", None),
    ("PUT", f"/v1/customers/{OTHER}", {"name": "Mine now"}),
    ("PUT", f"/v1/customers/{OTHER}/workloads/chat", WORKLOAD),
    ("GET", "/v1/workloads?customer_id=globex", None),
    ("GET", "/v1/recommendations?customer_id=globex", None),
    ("GET", "/v1/recommendations/globex-rec", None),
    ("POST", "/v1/recommendations/globex-rec/approve", {"reason": "mine"}),
    ("POST", "/v1/recommendations/globex-rec/reject", {"reason": "mine"}),
    ("POST", "/v1/optimizations", {"customer_id": OTHER, "workload_id": "chat"}),
    ("GET", "/v1/optimizations?customer_id=globex", None),
    ("POST", "/v1/joint-optimizations", {"customer_id": OTHER, "workload_id": "chat"}),
    ("GET", "/v1/conflicts?customer_id=globex", None),
    ("GET", "/v1/capacity-profiles?customer_id=globex", None),
    ("GET", f"/v1/customers/{OTHER}/privacy", None),
    ("PUT", f"/v1/customers/{OTHER}/privacy", {"tier": 2, "changed_by": "me"}),
    (
        "POST",
        f"/v1/customers/{OTHER}/workloads/chat/request-log",
        {
            "records": [
                {"at": "2026-12-01T00:00:00Z", "model": "m", "context_tokens": 1, "generated_tokens": 1}
            ]
        },
    ),
    ("GET", "/v1/audit?customer_id=globex", None),
    ("GET", f"/v1/customers/{OTHER}/api-keys", None),
    ("POST", f"/v1/customers/{OTHER}/api-keys", {"name": "x", "role": "admin"}),
    ("GET", f"/v1/customers/{OTHER}/identity-provider", None),
    ("POST", "/v1/schedules", {"schedule_id": "theirs", "cron": ["0 2 * * *"], "customer_id": OTHER}),
]


LEAKS = ("Globex", "Move chat to spot", "1234.56")


@pytest.fixture
async def tenants(api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession]) -> Tenants:
    made = await make_tenants(api)
    async with api_sessions.begin() as session:
        await repository.save_recommendation(
            session=session,
            recommendation=factories.recommendation("globex-rec", customer_id=OTHER),
        )
        await repository.save_recommendation(
            session=session, recommendation=factories.recommendation("acme-rec", customer_id="acme")
        )
    return made


@pytest.mark.parametrize("role", list(Role))
async def test_no_route_reaches_another_customers_data(
    api: httpx.AsyncClient, tenants: Tenants, role: Role
) -> None:
    for method, path, body in CROSS_TENANT:
        response = await api.request(method, path, json=body, headers=tenants.headers("acme", role))
        assert response.status_code in (403, 404), (method, path, response.status_code, response.text)
        # Nothing of the other customer's data: its name, its recommendation's title or figures.
        assert [leak for leak in LEAKS if leak in response.text] == []


async def test_lists_show_only_the_callers_customer(api: httpx.AsyncClient, tenants: Tenants) -> None:
    viewer = tenants.headers("acme", Role.VIEWER)
    for path in ("/v1/customers", "/v1/workloads", "/v1/recommendations", "/v1/audit"):
        listed = (await api.get(path, headers=viewer)).json()
        customers = {item.get("customer_id") for item in listed["items"]}
        assert customers == {"acme"}, (path, listed)
        assert listed["total"] == len(listed["items"])
    # The platform admin sees both.
    everyone = (await api.get("/v1/recommendations")).json()
    assert {item["customer_id"] for item in everyone["items"]} == {"acme", "globex"}


async def test_each_role_does_what_it_is_for_and_no_more(api: httpx.AsyncClient, tenants: Tenants) -> None:
    def as_(role: Role) -> dict[str, str]:
        return tenants.headers("acme", role)

    # Reading: every role.
    for role in Role:
        assert (await api.get("/v1/recommendations/acme-rec", headers=as_(role))).status_code == 200
    # Deciding: not a viewer (the approver's attempt reaches the workflow, which this test has not started).
    refused = await api.post(
        "/v1/recommendations/acme-rec/approve", json={"reason": "ok"}, headers=as_(Role.VIEWER)
    )
    assert refused.status_code == 403
    assert "viewer" in refused.json()["detail"]
    # Workloads and optimizations: operator and admin, not an approver.
    changed = {**WORKLOAD, "name": "Chat v2"}
    assert (
        await api.put("/v1/customers/acme/workloads/chat", json=changed, headers=as_(Role.APPROVER))
    ).status_code == 403
    assert (
        await api.put("/v1/customers/acme/workloads/chat", json=changed, headers=as_(Role.OPERATOR))
    ).status_code == 200
    # The customer's policy and keys: admin only.
    policy = {"name": "Acme", "automation": {"operating_mode": "autonomous"}}
    for role in (Role.VIEWER, Role.APPROVER, Role.OPERATOR):
        assert (await api.put("/v1/customers/acme", json=policy, headers=as_(role))).status_code == 403
        made = await api.post(
            "/v1/customers/acme/api-keys", json={"name": "k", "role": "viewer"}, headers=as_(role)
        )
        assert made.status_code == 403
    assert (await api.put("/v1/customers/acme", json=policy, headers=as_(Role.ADMIN))).status_code == 200
    # A customer's admin cannot register a new customer.
    assert (
        await api.put("/v1/customers/initech", json={"name": "Initech"}, headers=as_(Role.ADMIN))
    ).status_code == 403


async def test_writes_are_audited_as_the_keys_principal_with_before_and_after(
    api: httpx.AsyncClient, tenants: Tenants
) -> None:
    admin = tenants.headers("acme", Role.ADMIN)
    await api.put(
        "/v1/customers/acme",
        json={"name": "Acme", "automation": {"operating_mode": "autonomous"}},
        headers=admin,
    )
    page = (await api.get("/v1/audit", params={"action": "customer.updated"}, headers=admin)).json()
    (line,) = page["items"]
    assert line["actor"] == f"key:{tenants.key_ids['acme'][Role.ADMIN]} (admin-key)"
    assert line["before"]["automation"]["operating_mode"] == "advisory"
    assert line["after"]["automation"]["operating_mode"] == "autonomous"
    assert line["customer_id"] == "acme"


async def test_a_revoked_or_expired_or_mangled_key_is_refused(
    api: httpx.AsyncClient, tenants: Tenants, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    viewer = tenants.headers("acme", Role.VIEWER)
    assert (await api.get("/v1/workloads", headers=viewer)).status_code == 200
    key_id = tenants.key_ids["acme"][Role.VIEWER]
    revoked = await api.delete(
        f"/v1/customers/acme/api-keys/{key_id}", headers=tenants.headers("acme", Role.ADMIN)
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await api.get("/v1/workloads", headers=viewer)).status_code == 401

    async with api_sessions.begin() as session:
        _, expired = await create_api_key(
            session=session,
            customer_id="acme",
            role=Role.ADMIN,
            name="old",
            created_by="test",
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
    assert (await api.get("/v1/workloads", headers={"Authorization": f"Bearer {expired}"})).status_code == 401
    good = tenants.keys["acme"][Role.ADMIN]
    for mangled in (
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        good.replace("oik_", "oik_0"),
        "oik_",
        "x.y.z",
    ):
        response = await api.get("/v1/workloads", headers={"Authorization": f"Bearer {mangled}"})
        assert response.status_code == 401, mangled


async def test_keys_are_listed_without_their_secret(api: httpx.AsyncClient, tenants: Tenants) -> None:
    listed = await api.get("/v1/customers/acme/api-keys", headers=tenants.headers("acme", Role.ADMIN))
    assert listed.status_code == 200
    assert listed.json()["total"] == len(Role)
    for secret in tenants.keys["acme"].values():
        assert secret.split("_", 2)[2] not in listed.text


async def test_two_customers_each_have_their_own_schedule_of_one_name(
    api: httpx.AsyncClient, tenants: Tenants
) -> None:
    """Schedule ids live under their customer: neither learns the other uses a name, nor reaches its one."""
    for customer, cron in (("acme", "0 2 * * *"), ("globex", "0 4 * * *")):
        made = await api.post(
            "/v1/schedules",
            json={"schedule_id": "nightly", "cron": [cron]},
            headers=tenants.headers(customer, Role.OPERATOR),
        )
        assert made.status_code == 201, made.text
        assert made.json()["customer_id"] == customer
    try:
        for customer, cron in (("acme", "0 2 * * *"), ("globex", "0 4 * * *")):
            shown = await api.get("/v1/schedules/nightly", headers=tenants.headers(customer, Role.VIEWER))
            assert shown.json()["cron"] == [cron]
        paused = await api.post("/v1/schedules/nightly/pause", headers=tenants.headers("acme", Role.OPERATOR))
        assert paused.json()["paused"] is True
        other = await api.get("/v1/schedules/nightly", headers=tenants.headers("globex", Role.VIEWER))
        assert other.json()["paused"] is False
    finally:
        for customer in ("acme", "globex"):
            await api.delete("/v1/schedules/nightly", headers=tenants.headers(customer, Role.OPERATOR))
