"""POST and GET /v1/capacity-profiles on the real store: what `optiinfra profile import` sends."""

from pathlib import Path

import httpx
import pytest

from optiinfra.capacity.profile_import import read_profile_file

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PROFILES = Path(__file__).parents[1] / "optiinfra" / "capacity" / "fixtures" / "profiles"
WORKLOAD = {"name": "Chat", "model_name": "meta-llama/Llama-3.1-8B-Instruct", "region": "us-east-1"}


def _profile(workload_id: str | None = None) -> dict[str, object]:
    parsed = read_profile_file(PROFILES / "guidellm_report.json")
    return {
        "customer_id": "acme",
        "workload_id": workload_id,
        "gpu": "NVIDIA H100",
        "model": "Llama-3.1-8B",
        "tool": parsed.tool,
        "source_file": "guidellm_report.json",
        "points": [p.model_dump(mode="json") for p in parsed.points],
    }


async def test_a_profile_is_stored_once_and_listed_for_its_workloads(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/acme", json={"name": "Acme"})
    await api.put("/v1/customers/acme/workloads/chat", json=WORKLOAD)
    first = await api.post("/v1/capacity-profiles", json=_profile())
    again = await api.post("/v1/capacity-profiles", json=_profile())
    own = await api.post("/v1/capacity-profiles", json=_profile("chat"))
    assert first.status_code == again.status_code == own.status_code == 201
    assert first.json() == again.json() and first.json()["points"] == 3
    listed = (await api.get("/v1/capacity-profiles", params={"customer_id": "acme"})).json()["items"]
    assert len(listed) == 2
    for_chat = await api.get("/v1/capacity-profiles", params={"customer_id": "acme", "workload_id": "chat"})
    assert {p["workload_id"] for p in for_chat.json()["items"]} == {None, "chat"}
    other = await api.get("/v1/capacity-profiles", params={"customer_id": "acme", "workload_id": "other"})
    assert [p["workload_id"] for p in other.json()["items"]] == [None]


async def test_unknown_owners_get_404_and_bad_profiles_422(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/capacity-profiles", json=_profile())).status_code == 404
    await api.put("/v1/customers/acme", json={"name": "Acme"})
    missing = await api.post("/v1/capacity-profiles", json=_profile("ghost"))
    assert missing.status_code == 404 and "unknown workload ghost" in missing.json()["detail"]
    bad = _profile() | {"points": []}
    assert (await api.post("/v1/capacity-profiles", json=bad)).status_code == 422
    negative = _profile()
    negative["points"] = [{**negative["points"][0], "requests_per_s": -1}]  # type: ignore[index]
    assert (await api.post("/v1/capacity-profiles", json=negative)).status_code == 422
