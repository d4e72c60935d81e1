"""The /v1/schedules routes on the real dev server: create, list, show, pause, unpause and delete fleet-scan
schedules, and the answers for a taken id, a bad cron or time zone, and an unknown schedule. The cron here
(3:00 on January 1st) never comes during a test; the schedules that start scans are in
tests/workflows/test_fleet_scan_schedule.py."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from optiinfra.cli.api_client import ApiClient, ApiError
from optiinfra.domain.enums import AgentKind
from tests.api.conftest import API_TOKEN

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NEW_YEAR = "0 3 1 1 *"
ACME = {"customer_id": "acme"}


@pytest.fixture
async def schedule_id(api: httpx.AsyncClient) -> AsyncIterator[str]:
    """A fresh id (the dev server lives for the whole session), deleted at the end if still there."""
    schedule_id = f"t-{uuid4().hex[:12]}"
    yield schedule_id
    await api.delete(f"/v1/schedules/{schedule_id}")


async def create(api: httpx.AsyncClient, schedule_id: str, **fields: Any) -> httpx.Response:
    """POST a schedule: `schedule_id` and a cron, with `fields` added or replacing them."""
    return await api.post("/v1/schedules", json={"schedule_id": schedule_id, "cron": [NEW_YEAR], **fields})


async def test_a_schedule_is_created_listed_shown_paused_and_deleted(
    api: httpx.AsyncClient, schedule_id: str
) -> None:
    created = await create(
        api,
        schedule_id,
        cron=[NEW_YEAR, "30 12 * * mon-fri # weekdays"],
        timezone="Europe/Paris",
        customer_id="acme",
        agents=["cost"],
        note="quiet hours",
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["schedule_id"] == schedule_id
    assert body["temporal_schedule_id"] == f"optiinfra/scan/acme/{schedule_id}"  # kept under its customer
    assert body["cron"] == [NEW_YEAR, "30 12 * * mon-fri # weekdays"]
    assert (body["timezone"], body["customer_id"], body["agents"]) == ("Europe/Paris", "acme", ["cost"])
    assert (body["note"], body["paused"], body["recent_runs"]) == ("quiet hours", False, [])
    assert body["next_action_times"], "a schedule with cron times ahead says when it runs next"

    # The list comes from Temporal's visibility store, which catches up a moment after a create.
    deadline = time.monotonic() + 10
    while schedule_id not in [
        item["schedule_id"] for item in (await api.get("/v1/schedules")).json()["items"]
    ]:
        assert time.monotonic() < deadline, "the new schedule never showed in the list"
        await asyncio.sleep(0.2)
    items = (await api.get("/v1/schedules")).json()["items"]
    assert all(item["temporal_schedule_id"].startswith("optiinfra/scan/") for item in items)

    # A platform admin names the customer whose schedule it is; without it the id is a fleet-wide one.
    assert (await api.get(f"/v1/schedules/{schedule_id}")).status_code == 404
    shown = (await api.get(f"/v1/schedules/{schedule_id}", params=ACME)).json()
    assert shown["cron"] == body["cron"]

    paused = await api.post(f"/v1/schedules/{schedule_id}/pause", json={"note": "holidays"}, params=ACME)
    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["pause_note"], paused.json()["note"]) == (
        True,
        "holidays",
        "quiet hours",
    )
    unpaused = await api.post(f"/v1/schedules/{schedule_id}/unpause", params=ACME)
    assert unpaused.status_code == 200
    assert unpaused.json()["paused"] is False
    assert (await api.get(f"/v1/schedules/{schedule_id}", params=ACME)).json()["paused"] is False

    deleted = await api.delete(f"/v1/schedules/{schedule_id}", params=ACME)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.get(f"/v1/schedules/{schedule_id}", params=ACME)).status_code == 404


async def test_a_taken_id_gets_409(api: httpx.AsyncClient, schedule_id: str) -> None:
    assert (await create(api, schedule_id)).status_code == 201
    again = await create(api, schedule_id, cron=["@daily"])
    assert again.status_code == 409
    assert schedule_id in again.json()["detail"]
    assert (await api.get(f"/v1/schedules/{schedule_id}")).json()["cron"] == [NEW_YEAR]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cron": ["* * *"]}, "has 3 field(s)"),
        ({"cron": ["1 2 3 4 5 6 7 8"]}, "has 8 field(s)"),
        ({"cron": ["61 * * * *"]}, "Minute is not in range [0-59]"),  # the Temporal server's own reason
        ({"cron": ["0 25 * * *"]}, "Hour is not in range [0-23]"),
        ({"cron": ["TZ=Europe/Paris 0 3 * * *"]}, "give the time zone in `timezone`"),
        ({"cron": ["@fortnightly"]}, "unknown shorthand"),
        ({"cron": [""]}, "may not be empty"),
        ({"cron": []}, "at least 1 item"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"agents": ["cost", "cost"]}, "each agent may appear once"),
        ({"agents": ["astrology"]}, "agents"),
        ({"customer_id": "Not Valid"}, "customer_id"),
        ({"schedule_id": "Nightly_Scan"}, "schedule_id"),
        ({"interval": "1h"}, "Extra inputs are not permitted"),
    ],
)
async def test_a_bad_schedule_gets_422_with_its_reason(
    api: httpx.AsyncClient, schedule_id: str, fields: dict[str, Any], reason: str
) -> None:
    response = await api.post(
        "/v1/schedules", json={"schedule_id": schedule_id, "cron": [NEW_YEAR], **fields}
    )
    assert response.status_code == 422, response.text
    assert reason in response.text
    if "schedule_id" not in fields:
        assert (await api.get(f"/v1/schedules/{schedule_id}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("POST", "/pause"), ("POST", "/unpause"), ("DELETE", "")]
)
async def test_an_unknown_schedule_gets_404(api: httpx.AsyncClient, method: str, suffix: str) -> None:
    response = await api.request(method, f"/v1/schedules/no-such-schedule{suffix}")
    assert response.status_code == 404
    assert response.json()["detail"] == "no schedule no-such-schedule"


async def test_schedules_need_the_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/schedules", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


async def test_the_cli_client_drives_the_same_routes(api: httpx.AsyncClient, schedule_id: str) -> None:
    """`optiinfra schedule ...` talks to the API through ApiClient; here over the in-process app."""
    client = ApiClient("http://api.test", API_TOKEN)
    await client._http.aclose()
    client._http = api  # the in-process transport, same token; the fixture closes it
    created = await client.create_schedule(
        {"schedule_id": schedule_id, "cron": ["@weekly"], "agents": ["cost"]}
    )
    assert (created.schedule_id, created.cron, created.agents) == (
        schedule_id,
        ["@weekly"],
        [AgentKind.COST],
    )
    paused = await client.set_schedule_paused(schedule_id, True, note="not now")
    assert (paused.paused, paused.pause_note) == (True, "not now")
    assert (await client.set_schedule_paused(schedule_id, False)).paused is False
    assert (await client.get_schedule(schedule_id)).schedule_id == schedule_id
    await client.delete_schedule(schedule_id)
    with pytest.raises(ApiError) as missing:
        await client.get_schedule(schedule_id)
    assert missing.value.status_code == 404
    with pytest.raises(ApiError) as refused:
        await client.create_schedule({"schedule_id": schedule_id, "cron": ["61 * * * *"]})
    assert refused.value.status_code == 422
    assert "Minute is not in range" in refused.value.detail
