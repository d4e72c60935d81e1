"""The API's own /metrics: every request counted and timed by method, route template and status, read
without a credential, never served by the web console, and left out of the OpenAPI document."""

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from optiinfra.settings import Settings

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "metrics-token-0123456789"
BY_ID = "/v1/recommendations/{recommendation_id}"


@pytest.fixture
async def app(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    built = create_app(
        Settings(temporal_task_queue="metrics-tests", api_token=SecretStr(TOKEN)),
        client=temporal_client,
        sessions=api_sessions,
    )
    async with built.router.lifespan_context(built):
        yield built


def _http(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test", headers=headers
    )


def _samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _count(samples: list[Sample], **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == "optiinfra_api_requests_total" and all(s.labels.get(k) == v for k, v in labels.items())
    )


@SQLITE
async def test_requests_are_counted_by_route_template_and_status_without_raw_ids(app: FastAPI) -> None:
    ids = [str(uuid4()) for _ in range(3)]
    async with _http(app, TOKEN) as http:
        for recommendation_id in ids:
            assert (await http.get(f"/v1/recommendations/{recommendation_id}")).status_code == 404
        assert (await http.get("/v1/customers")).status_code == 200
        assert (await http.get("/v1/nothing-here/abc-123")).status_code == 404
        assert (await http.put("/v1/session")).status_code == 405
    async with _http(app) as anonymous:
        assert (await anonymous.get("/v1/customers")).status_code == 401
        scraped = await anonymous.get("/metrics")  # no credential needed

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    assert _count(samples, method="GET", route=BY_ID, status="404") == 3
    assert _count(samples, method="GET", route="/v1/customers", status="200") == 1
    assert _count(samples, method="GET", route="/v1/customers", status="401") == 1
    assert _count(samples, method="GET", route="unmatched", status="404") == 1
    assert _count(samples, method="PUT", route="/v1/session", status="405") == 1
    assert all(recommendation_id not in scraped.text for recommendation_id in ids)
    assert "abc-123" not in scraped.text and "nothing-here" not in scraped.text
    durations = {
        s.labels["route"]: s.value
        for s in samples
        if s.name == "optiinfra_api_request_duration_seconds_count"
    }
    assert durations[BY_ID] == 3
    assert durations["unmatched"] == 1
    assert {s.labels["route"] for s in samples if s.name.startswith("optiinfra_api_")} <= {
        BY_ID,
        "/v1/customers",
        "/v1/session",
        "unmatched",
    }

    # The scrape itself is counted, for the next one.
    async with _http(app) as anonymous:
        again = _samples((await anonymous.get("/metrics")).text)
    assert _count(again, method="GET", route="/metrics", status="200") == 1


@SQLITE
async def test_each_app_counts_only_its_own_requests(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession], app: FastAPI
) -> None:
    other = create_app(
        Settings(temporal_task_queue="metrics-tests", api_token=SecretStr(TOKEN)),
        client=temporal_client,
        sessions=api_sessions,
    )
    async with _http(app, TOKEN) as http:
        await http.get("/v1/customers")
    async with other.router.lifespan_context(other), _http(other) as http:
        samples = _samples((await http.get("/metrics")).text)
    assert _count(samples, route="/v1/customers") == 0


@SQLITE
async def test_metrics_are_not_in_the_openapi_document(app: FastAPI) -> None:
    async with _http(app) as http:
        document = (await http.get("/openapi.json")).json()
    assert "/metrics" not in document["paths"]


async def test_the_console_never_answers_metrics(tmp_path: Path) -> None:
    """Only built, not started: with a console build present, /metrics is still the metrics."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>OptiInfra</title>")
    (dist / "metrics").write_text("a file of the build with the endpoint's name")
    app = create_app(Settings(portal_dir=dist))
    async with _http(app) as http:
        await http.get("/some/console/page")
        scraped = await http.get("/metrics")
        assert (await http.get("/metrics/anything")).status_code == 404
    assert scraped.status_code == 200
    assert "<title>" not in scraped.text and "a file of the build" not in scraped.text
    assert _count(_samples(scraped.text), method="GET", route="portal", status="200") == 1
