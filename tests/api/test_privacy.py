"""Privacy tiers through the API: setting a customer's tier, and sending each tier's inputs."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.tier1 import Tier1View
from optiinfra.privacy.tier3 import PromptContent, Tier3View
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.tables import PromptVaultRow
from tests.api.conftest import API_TOKEN
from tests.support.asgi import api_client

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKLOAD = {"name": "Chat", "model_name": "meta-llama/Llama-3.1-8B-Instruct", "region": "us-west-2"}
LOG = "/v1/customers/acme/workloads/chat/request-log"
AGGREGATES = "/v1/customers/acme/workloads/chat/aggregates"
PROMPTS = "/v1/customers/acme/workloads/chat/prompts"
SECRET = "Summarise the Zephyrine Holdings merger memo"


@pytest.fixture
def key() -> SecretStr:
    return SecretStr(Fernet.generate_key().decode())


@pytest.fixture
async def keyed_api(
    temporal_client: Client, api_sessions: Sessions, key: SecretStr
) -> AsyncIterator[httpx.AsyncClient]:
    """The API of a server configured for tier 3 (an encryption key is set)."""
    settings = Settings(temporal_task_queue="api-tests", prompt_encryption_key=key)
    async with api_client(settings, token=API_TOKEN, client=temporal_client, sessions=api_sessions) as http:
        yield http


async def _register(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/customers/acme", json={"name": "Acme"})).status_code == 200
    assert (await api.put("/v1/customers/acme/workloads/chat", json=WORKLOAD)).status_code == 200


async def _set_tier(api: httpx.AsyncClient, tier: int) -> httpx.Response:
    return await api.put(
        "/v1/customers/acme/privacy", json={"tier": tier, "changed_by": "jane@acme.example", "reason": "DPA"}
    )


def _record(minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "request_type": "support-chat",
        "context_tokens": 900,
        "generated_tokens": 120,
        "latency_s": 1.5,
        **extra,
    }


def _rag(hour: int) -> dict[str, Any]:
    return {
        "request_type": "support-chat",
        "period_start": (T0 + timedelta(hours=hour)).isoformat(),
        "period_end": (T0 + timedelta(hours=hour + 1)).isoformat(),
        "requests": 400,
        "chunk_tokens": 256,
        "mean_chunks_retrieved": 6.0,
        "mean_chunks_used": 2.0,
        "relevance_by_rank": [0.8, 0.5],
    }


async def _logged(sessions: Sessions) -> list[Any]:
    return await Tier1View(customer_id="acme", sessions=sessions).token_records(
        "chat", T0 - timedelta(days=1), T0 + timedelta(days=1)
    )


# The tier


async def test_a_customer_starts_in_tier_1_and_a_change_records_who_and_when(api: httpx.AsyncClient) -> None:
    await _register(api)
    initial = await api.get("/v1/customers/acme/privacy")
    assert initial.status_code == 200
    assert initial.json() == {
        "customer_id": "acme",
        "tier": 1,
        "changed_by": None,
        "changed_at": None,
        "reason": "",
    }

    changed = await _set_tier(api, 2)
    assert changed.status_code == 200
    shown = (await api.get("/v1/customers/acme/privacy")).json()
    assert shown == changed.json()
    assert (shown["tier"], shown["changed_by"], shown["reason"]) == (
        2,
        "platform-token (jane@acme.example)",
        "DPA",
    )
    assert datetime.fromisoformat(shown["changed_at"]) <= datetime.now(UTC)


async def test_tier_changes_for_unknown_customers_and_bad_bodies_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/customers/ghost/privacy")).status_code == 404
    missing = await api.put(
        "/v1/customers/ghost/privacy", json={"tier": 2, "changed_by": "jane", "reason": ""}
    )
    assert missing.status_code == 404
    assert "unknown customer ghost" in missing.json()["detail"]

    await _register(api)
    for body, reason in [
        ({"tier": 4, "changed_by": "jane", "reason": ""}, "tier"),
        ({"tier": 0, "changed_by": "jane", "reason": ""}, "tier"),
        ({"tier": 2, "changed_by": "   ", "reason": ""}, "changed_by"),
        ({"tier": 2, "reason": ""}, "changed_by"),
        ({"tier": 2, "changed_by": "jane", "reason": "", "when": "now"}, "when"),
    ]:
        response = await api.put("/v1/customers/acme/privacy", json=body)
        assert response.status_code == 422, body
        assert reason in response.text
    assert (await api.get("/v1/customers/acme/privacy")).json()["tier"] == 1


async def test_tier_3_is_refused_while_the_server_has_no_encryption_key(api: httpx.AsyncClient) -> None:
    await _register(api)
    response = await _set_tier(api, 3)
    assert response.status_code == 409
    assert "OPTIINFRA_PROMPT_ENCRYPTION_KEY" in response.json()["detail"]
    assert (await api.get("/v1/customers/acme/privacy")).json()["tier"] == 1


# Tier 1: the request log


async def test_request_records_are_accepted_in_every_tier(
    api: httpx.AsyncClient, api_sessions: Sessions
) -> None:
    await _register(api)
    response = await api.post(LOG, json={"records": [_record(0), _record(1, error="timeout")]})
    assert response.status_code == 200
    assert response.json() == {"accepted": 2}
    logged = await _logged(api_sessions)
    assert [(r.at, r.error) for r in logged] == [(T0, None), (T0 + timedelta(minutes=1), "timeout")]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"prompt": SECRET}, "prompt"),
        ({"completion": SECRET}, "completion"),
        ({"messages": [{"role": "user", "content": SECRET}]}, "messages"),
        ({"model": SECRET}, "model"),
        ({"request_type": SECRET}, "request_type"),
        ({"error": f"upstream said {SECRET}"}, "error"),
    ],
)
async def test_a_record_carrying_text_is_refused_and_nothing_of_its_body_is_stored(
    api: httpx.AsyncClient, api_sessions: Sessions, bad: dict[str, Any], field: str
) -> None:
    await _register(api)
    response = await api.post(LOG, json={"records": [_record(0), _record(1, **bad), _record(2)]})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert all(error["loc"][:3] == ["body", "records", 1] for error in errors)
    assert any(field in error["loc"] for error in errors)
    assert await _logged(api_sessions) == []


async def test_request_log_limits_and_unknown_workloads(api: httpx.AsyncClient) -> None:
    await _register(api)
    assert (await api.post(LOG, json={"records": []})).status_code == 422
    too_many = await api.post(LOG, json={"records": [_record(0)] * 10_001})
    assert too_many.status_code == 422
    assert "10000" in too_many.text
    assert (await api.post(LOG, json={"records": [_record(0)], "note": "hi"})).status_code == 422
    unknown = await api.post("/v1/customers/acme/workloads/nope/request-log", json={"records": [_record(0)]})
    assert unknown.status_code == 404
    assert "unknown workload acme/nope" in unknown.json()["detail"]
    ghost = await api.post("/v1/customers/ghost/workloads/chat/request-log", json={"records": [_record(0)]})
    assert ghost.status_code == 404


# Routing quality samples (tier 1)

QUALITY = "/v1/customers/acme/workloads/chat/quality-comparisons"


def _comparison(minutes: int, verdict: str = "no_worse", **extra: Any) -> dict[str, Any]:
    return {
        "at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "request_type": "support-chat",
        "context_tokens": 900,
        "cheap_model": "meta-llama/Llama-3.2-3B-Instruct",
        "verdict": verdict,
        **extra,
    }


async def _compared(sessions: Sessions) -> list[Any]:
    return await Tier1View(customer_id="acme", sessions=sessions).quality_comparisons(
        "chat", T0 - timedelta(days=1), T0 + timedelta(days=1)
    )


async def test_a_quality_sample_is_stored_in_tier_1_and_read_back_in_order(
    api: httpx.AsyncClient, api_sessions: Sessions
) -> None:
    await _register(api)
    response = await api.post(QUALITY, json={"comparisons": [_comparison(1, "worse"), _comparison(0)]})
    assert response.status_code == 200
    assert response.json() == {"accepted": 2}
    stored = await _compared(api_sessions)
    later = T0 + timedelta(minutes=1)
    assert [(c.at, c.verdict.value) for c in stored] == [(T0, "no_worse"), (later, "worse")]


@pytest.mark.parametrize(
    "bad",
    [
        {"cheap_answer": SECRET},
        {"verdict": "better, the small model wrote a cleaner summary"},
        {"cheap_model": SECRET},
        {"context_tokens": -1},
    ],
)
async def test_a_comparison_carrying_text_or_a_bad_verdict_is_refused_whole(
    api: httpx.AsyncClient, api_sessions: Sessions, bad: dict[str, Any]
) -> None:
    await _register(api)
    response = await api.post(QUALITY, json={"comparisons": [_comparison(0), _comparison(1, **bad)]})
    assert response.status_code == 422
    assert all(error["loc"][:3] == ["body", "comparisons", 1] for error in response.json()["detail"])
    assert await _compared(api_sessions) == []
    unknown = await api.post(
        "/v1/customers/acme/workloads/nope/quality-comparisons", json={"comparisons": [_comparison(0)]}
    )
    assert unknown.status_code == 404


# Tier 2: aggregates


async def test_aggregates_need_tier_2(api: httpx.AsyncClient) -> None:
    await _register(api)
    body = {"rag_retrieval": [_rag(0)]}
    refused = await api.post(AGGREGATES, json=body)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "customer acme is in privacy tier 1; storing aggregated statistics needs tier 2 or above"
    )

    await _set_tier(api, 2)
    structure = {
        "request_type": "support-chat",
        "period_start": T0.isoformat(),
        "period_end": (T0 + timedelta(hours=1)).isoformat(),
        "requests": 400,
        "shares": {"system": 0.25, "retrieved": 0.5, "user": 0.25},
    }
    accepted = await api.post(
        AGGREGATES, json={"rag_retrieval": [_rag(0), _rag(1)], "prompt_structure": [structure]}
    )
    assert accepted.status_code == 200
    assert accepted.json() == {"accepted": 3}
    assert (await api.post(AGGREGATES, json={})).status_code == 422
    bad_shares = {**structure, "shares": {"system": 0.9, "user": 0.9}}
    assert (await api.post(AGGREGATES, json={"prompt_structure": [bad_shares]})).status_code == 422


# Tier 3: prompt content


async def test_prompts_need_tier_3_and_are_stored_encrypted(
    keyed_api: httpx.AsyncClient, api_sessions: Sessions, key: SecretStr
) -> None:
    api = keyed_api
    await _register(api)
    body = {
        "items": [{"request_ref": "req-1", "at": T0.isoformat(), "prompt": SECRET, "completion": "Done."}]
    }
    for tier in (1, 2):
        await _set_tier(api, tier)
        refused = await api.post(PROMPTS, json=body)
        assert refused.status_code == 403
        assert f"tier {tier}; storing prompt content needs tier 3" in refused.json()["detail"]

    assert (await _set_tier(api, 3)).status_code == 200
    stored = await api.post(PROMPTS, json=body)
    assert stored.status_code == 200
    assert stored.json() == {"accepted": 1}

    async with api_sessions() as session:
        tokens = list(await session.scalars(select(PromptVaultRow.ciphertext)))
        written = await repository.list_audit(session=session, subject="acme/chat")
    assert len(tokens) == 1
    assert SECRET.encode() not in tokens[0]
    assert [(e.actor, e.action) for e in written if e.action.startswith("prompt")] == [
        ("platform-token", "prompt_content.written")
    ]
    view = Tier3View(customer_id="acme", sessions=api_sessions, cipher=PromptCipher(key))
    read = await view.prompt_contents("chat", request_refs=["req-1"], actor="jane", purpose="verify")
    assert read == [PromptContent(request_ref="req-1", at=T0, prompt=SECRET, completion="Done.")]


async def test_prompt_bodies_are_validated(keyed_api: httpx.AsyncClient) -> None:
    await _register(keyed_api)
    await _set_tier(keyed_api, 3)
    item = {"request_ref": "req-1", "at": T0.isoformat(), "prompt": "hello"}
    for body in (
        {"items": []},
        {"items": [{**item, "request_ref": "has spaces"}]},
        {"items": [{**item, "user_email": "a@b.c"}]},
        {"items": [item] * 101},
    ):
        assert (await keyed_api.post(PROMPTS, json=body)).status_code == 422


async def test_leaving_tier_3_through_the_api_deletes_stored_prompts(
    keyed_api: httpx.AsyncClient, api_sessions: Sessions
) -> None:
    await _register(keyed_api)
    await _set_tier(keyed_api, 3)
    body = {"items": [{"request_ref": f"req-{i}", "at": T0.isoformat(), "prompt": SECRET} for i in range(3)]}
    assert (await keyed_api.post(PROMPTS, json=body)).status_code == 200
    assert (await _set_tier(keyed_api, 1)).status_code == 200
    async with api_sessions() as session:
        assert list(await session.scalars(select(PromptVaultRow.id))) == []
        actions = [e.action for e in await repository.list_audit(session=session, subject="acme")]
    assert actions == [
        "customer.created",
        "privacy_tier.changed",
        "privacy_tier.changed",
        "prompt_content.deleted",
    ]
