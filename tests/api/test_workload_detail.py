"""`GET /v1/workloads/{customer}/{workload}`: the workload, its fleet as last measured and its measured cost
from the metrics store's hourly cost records, and its newest recommendations; nothing invented when
nothing was measured, and another customer's workload a 404.

The records: acme/chat's windows name i-a1 and i-a2. Three hours ago both ran (g5.xlarge on demand at
$1.00 an hour); the last two hours i-a1 ran alone and i-a2 was replaced by i-a3, a spot g5.12xlarge at
$2.00 (named by no window: only by the step result of an executed change). A $50 record of globex's own
i-a3 in the same hour must not count for acme."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from optiinfra.access.principal import Role
from optiinfra.domain.enums import PurchaseOption, RecommendationStatus
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.metrics.store import CostSample
from optiinfra.settings import Settings
from optiinfra.store import repository
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import Tenants, make_tenants
from tests.optiinfra.reports.builders import window_stats
from tests.optiinfra.store import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HOUR = timedelta(hours=1)
THIS_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST, LAST = THIS_HOUR - 3 * HOUR, THIS_HOUR - HOUR


def _app_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )


@pytest.fixture
async def measured_api(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(temporal_task_queue="api-tests", api_token=SecretStr(API_TOKEN))
    app = create_app(settings, client=temporal_client, sessions=api_sessions, metrics=metrics)
    async with app.router.lifespan_context(app), _app_client(app) as http:
        yield http


def _cost(customer_id: str, instance_id: str, hour: datetime, usd: float, **more: object) -> CostSample:
    values: dict[str, object] = {
        "customer_id": customer_id,
        "instance_id": instance_id,
        "instance_type": "g5.xlarge",
        "lifecycle": PurchaseOption.ON_DEMAND,
        "hour": hour,
        "hourly_usd": usd,
    }
    return CostSample.model_validate(values | more)


async def _seed(sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics) -> None:
    async with sessions.begin() as session:
        for n in range(12):  # 12 of acme/chat's, newest last; the page shows the 10 newest
            found = factories.recommendation(f"wd-{n:02d}", created_at=FIRST + n * timedelta(minutes=1))
            await repository.save_recommendation(session=session, recommendation=found)
        await repository.save_recommendation(
            session=session, recommendation=factories.recommendation("wd-globex", customer_id="globex")
        )
        executed = factories.recommendation("wd-executed", status=RecommendationStatus.EXECUTED).model_copy(
            update={"created_at": FIRST - HOUR}
        )
        await repository.save_recommendation(session=session, recommendation=executed)
        outcome = factories.outcome("wd-executed").model_copy(
            update={
                "finished_at": FIRST + HOUR,
                "step_results": [factories.step_result().model_copy(update={"resource_ids": ["i-a3"]})],
            }
        )
        await repository.update_recommendation_status(
            session=session,
            recommendation_id="wd-executed",
            status=RecommendationStatus.EXECUTED,
            outcome=outcome,
        )
    spot = {"instance_type": "g5.12xlarge", "lifecycle": PurchaseOption.SPOT}
    await metrics.write_cost_samples(
        [_cost("acme", "i-a1", FIRST, 1.0), _cost("acme", "i-a2", FIRST, 1.0)]
        + [_cost("acme", "i-a1", hour, 1.0) for hour in (FIRST + HOUR, LAST)]
        + [_cost("acme", "i-a3", hour, 2.0, **spot) for hour in (FIRST + HOUR, LAST)]
        + [_cost("globex", "i-a3", LAST, 50.0)]
    )
    await metrics.write_window_stats([window_stats("i-a1", FIRST), window_stats("i-a2", FIRST)])


@pytest.fixture
async def tenants(
    measured_api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics
) -> Tenants:
    made = await make_tenants(measured_api)
    await _seed(api_sessions, metrics)
    return made


async def test_the_fleet_is_the_last_measured_hour_and_the_cost_the_records(
    measured_api: httpx.AsyncClient, tenants: Tenants
) -> None:
    asked_on = datetime.now(UTC).date()
    response = await measured_api.get("/v1/workloads/acme/chat", headers=tenants.headers("acme", Role.VIEWER))
    answered_on = datetime.now(UTC).date()
    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["workload"]["customer_id"], detail["workload"]["workload_id"]) == ("acme", "chat")
    assert detail["notes"] == []
    fleet = detail["fleet"]
    assert datetime.fromisoformat(fleet["hour"]) == LAST
    assert (fleet["replicas"], fleet["gpus"], fleet["hourly_cost_usd"]) == (2, 5, 3.0)
    assert fleet["instances"] == [
        {
            "instance_id": "i-a1",
            "instance_type": "g5.xlarge",
            "lifecycle": "on_demand",
            "gpu_model": "NVIDIA A10G",
            "gpus": 1,
            "hourly_usd": 1.0,
        },
        {
            "instance_id": "i-a3",
            "instance_type": "g5.12xlarge",
            "lifecycle": "spot",
            "gpu_model": "NVIDIA A10G",
            "gpus": 4,
            "hourly_usd": 2.0,
        },
    ]
    cost = detail["cost"]
    # Three hours measured: $2 + $3 + $3; a mean hour of $8/3, a month of 730 of them.
    assert (cost["measured_hours"], cost["total_cost_usd"]) == (3, 8.0)
    assert cost["hourly_cost_usd"] == pytest.approx(8 / 3)
    assert cost["monthly_cost_usd"] == pytest.approx(8 / 3 * 730)
    assert cost["gpu_hours"] == 2 + 5 + 5
    # through the end of the day the request was answered on (taken around it: a run may cross midnight)
    assert cost["until"] in {(day + timedelta(days=1)).isoformat() for day in (asked_on, answered_on)}
    assert len(detail["recommendations"]) == 10
    assert [r["id"] for r in detail["recommendations"]] == [f"wd-{n:02d}" for n in range(11, 1, -1)]
    assert detail["recommendations_total"] == 13
    assert set(detail["recommendations"][0]) >= {"title", "status", "estimated_monthly_savings_usd"}


async def test_another_customers_or_an_unknown_workload_is_a_404(
    measured_api: httpx.AsyncClient, tenants: Tenants
) -> None:
    globex = tenants.headers("globex", Role.ADMIN)
    other = await measured_api.get("/v1/workloads/acme/chat", headers=globex)
    unknown = await measured_api.get("/v1/workloads/globex/nope", headers=globex)
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.json() == {"detail": "no workload acme/chat"}
    assert (await measured_api.get("/v1/workloads/initech/chat")).status_code == 404
    assert (await measured_api.get("/v1/workloads/acme/Not_An_Id")).status_code == 422


async def test_nothing_measured_is_null_with_a_note(
    measured_api: httpx.AsyncClient, tenants: Tenants
) -> None:
    detail = (await measured_api.get("/v1/workloads/globex/chat")).json()
    assert (detail["fleet"], detail["cost"]) == (None, None)
    assert detail["notes"] == [
        "no hourly cost record of the workload's instances in these days, so its fleet and cost are unknown"
    ]
    assert [r["id"] for r in detail["recommendations"]] == ["wd-globex"]


async def test_without_a_metrics_store_the_figures_are_missing_and_say_why(api: httpx.AsyncClient) -> None:
    await make_tenants(api)
    detail = (await api.get("/v1/workloads/acme/chat")).json()
    assert (detail["fleet"], detail["cost"], detail["recommendations"]) == (None, None, [])
    assert "no metrics store" in detail["notes"][0]
