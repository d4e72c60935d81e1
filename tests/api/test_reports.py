"""The reports over HTTP, against a store holding executed recommendations and a metrics store holding
known hourly cost records, utilization and windows: every figure is checked against what those records give
when worked out by hand. Tenancy: a customer's viewer gets its own customer's figures, and a 403 for
another customer's.

The records (times relative to now, so the raw windows outlive their 90-day TTL):
- acme/chat, objectives p95 TTFT 0.5 s and ITL 0.05 s. Its change took effect at E = 12:20 two days ago
  (hour 12:00 left out of the comparison). Before: i-a1 and i-a2 at $2.00 an hour each (one GPU each) for
  the 7 days up to hour 12:00; in hour 12:00 those two and i-0def ($1.20); after: i-0def alone at $1.20
  (it is named only by the change's step result, never by a window). On day D, the day before E's, the
  windows of i-a1 and i-a2 (1,000 prompt and 400 generated tokens each) and i-a1's GPU at 25 %.
- globex/chat: one $9.00 hour of i-g1 on D; and a $50.00 record of its own i-0def in E's day, an instance
  id acme's change also names, which must not count for acme.
"""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from optiinfra.access.principal import Role
from optiinfra.domain.enums import PurchaseOption, RecommendationStatus
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.metrics.store import CostSample, UtilizationSample
from optiinfra.settings import Settings
from optiinfra.store import repository
from tests.api.conftest import API_TOKEN
from tests.api.tenancy import Tenants, make_tenants
from tests.optiinfra.reports.builders import window_stats
from tests.optiinfra.store import factories

HOUR = timedelta(hours=1)
MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
E = MIDNIGHT - timedelta(days=2) + timedelta(hours=12, minutes=20)
PIVOT = E.replace(minute=0)
E_DAY = E.date()
D = E_DAY - timedelta(days=1)
D_START = datetime(D.year, D.month, D.day, tzinfo=UTC)


@pytest.fixture
async def reports_api(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(temporal_task_queue="api-tests", api_token=SecretStr(API_TOKEN))
    app = create_app(settings, client=temporal_client, sessions=api_sessions, metrics=metrics)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as http,
    ):
        yield http


def _cost(customer_id: str, instance_id: str, hour: datetime, usd: float) -> CostSample:
    return CostSample(
        customer_id=customer_id,
        instance_id=instance_id,
        instance_type="g5.xlarge",
        lifecycle=PurchaseOption.ON_DEMAND,
        hour=hour,
        hourly_usd=usd,
    )


def _hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + n * HOUR for n in range(int((end - start) / HOUR))]


async def _seed_store(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        chat = await repository.get_workload(session=session, customer_id="acme", workload_id="chat")
        assert chat is not None
        await repository.upsert_workload(
            session=session, workload=chat.model_copy(update={"slo_ttft_p95_s": 0.5, "slo_itl_p95_s": 0.05})
        )
        for customer_id, estimated in (("acme", 730.0), ("globex", 1460.0)):
            recommendation_id = f"rec-{customer_id}"
            found = factories.recommendation(
                recommendation_id, customer_id=customer_id, status=RecommendationStatus.EXECUTED
            ).model_copy(
                update={
                    "estimated_monthly_savings_usd": estimated,
                    "projected_monthly_cost_usd": 3000.0 - estimated,
                    "created_at": E - HOUR,
                }
            )
            await repository.save_recommendation(session=session, recommendation=found)
            outcome = factories.outcome(recommendation_id).model_copy(
                update={"finished_at": E, "estimated_monthly_savings_usd": estimated}
            )
            await repository.update_recommendation_status(
                session=session,
                recommendation_id=recommendation_id,
                status=RecommendationStatus.EXECUTED,
                outcome=outcome,
            )
        pending = factories.recommendation("rec-pending", customer_id="acme")  # never counts
        await repository.save_recommendation(session=session, recommendation=pending)


async def _seed_metrics(metrics: ReportingMetrics) -> None:
    before = _hours(PIVOT - timedelta(days=7), PIVOT)
    after = _hours(PIVOT + HOUR, datetime.combine(E_DAY, datetime.min.time(), UTC) + timedelta(hours=36))
    costs = [_cost("acme", instance, hour, 2.0) for hour in before for instance in ("i-a1", "i-a2")]
    costs += [
        _cost("acme", "i-a1", PIVOT, 2.0),
        _cost("acme", "i-a2", PIVOT, 2.0),
        _cost("acme", "i-0def", PIVOT, 1.2),
    ]
    costs += [_cost("acme", "i-0def", hour, 1.2) for hour in after]
    costs += [_cost("globex", "i-g1", D_START + 5 * HOUR, 9.0), _cost("globex", "i-0def", PIVOT, 50.0)]
    await metrics.write_cost_samples(costs)
    await metrics.write_utilization(
        [
            UtilizationSample(
                customer_id="acme", instance_id="i-a1", at=hour + timedelta(minutes=10), gpu_utilization=25.0
            )
            for hour in _hours(D_START, D_START + 24 * HOUR)
        ]
    )
    # (replica, minute of D, p95 TTFT, p95 ITL): minute 1 misses TTFT on i-a2 (the window's worst replica),
    # minute 2 on both, minute 4 misses ITL on i-a1 alone.
    latencies = [
        ("i-a1", 0, 0.3, 0.03),
        ("i-a2", 0, 0.4, 0.04),
        ("i-a1", 1, 0.3, 0.03),
        ("i-a2", 1, 0.7, 0.03),
        ("i-a1", 2, 0.8, 0.03),
        ("i-a2", 2, 0.6, 0.03),
        ("i-a1", 3, 0.5, 0.05),
        ("i-a2", 3, 0.1, 0.01),
        ("i-a1", 4, 0.2, 0.09),
    ]
    await metrics.write_window_stats(
        [
            window_stats(
                replica,
                D_START + timedelta(minutes=minute),
                prompt_tokens=1000.0,
                generation_tokens=400.0,
                ttft_p95=ttft,
                itl_p95=itl,
            )
            for replica, minute, ttft, itl in latencies
        ]
        + [window_stats("i-g1", D_START + 5 * HOUR, customer_id="globex")]
    )


@pytest.fixture
async def tenants(
    reports_api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics
) -> Tenants:
    made = await make_tenants(reports_api)
    await _seed_store(api_sessions)
    await _seed_metrics(metrics)
    return made


@pytest.fixture
def seeded(reports_api: httpx.AsyncClient, tenants: Tenants) -> httpx.AsyncClient:
    """The API, as a platform admin, over the records above."""
    return reports_api


def _days(since: date, until: date, **more: str) -> dict[str, str]:
    return {"since": since.isoformat(), "until": until.isoformat(), **more}


async def test_savings_are_the_estimates_in_effect_and_the_cost_after_against_before(
    seeded: httpx.AsyncClient,
) -> None:
    response = await seeded.get(
        "/v1/reports/savings", params=_days(E_DAY, E_DAY + timedelta(days=1), customer_id="acme")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    (change,) = report["changes"]
    assert change["recommendation_id"] == "rec-acme"
    assert (change["before"]["measured_hours"], change["before"]["hourly_cost_usd"]) == (168, 4.0)
    assert change["before"]["mean_gpus"] == 2.0
    assert change["after"]["hourly_cost_usd"] == pytest.approx(1.2)  # i-0def, named by the step result only
    assert change["realized_hourly_savings_usd"] == pytest.approx(2.8)
    assert change["realized_monthly_savings_usd"] == pytest.approx(2.8 * 730)
    assert change["realized_gpus_saved"] == pytest.approx(1.0)
    (day,) = report["days"]
    in_effect = 11 + 40 / 60  # 12:20 to midnight
    assert (day["day"], day["workload_id"], day["changes_executed"]) == (
        E_DAY.isoformat(),
        "chat",
        ["rec-acme"],
    )
    assert day["estimated_savings_usd"] == pytest.approx(730 / 730 * in_effect)
    assert day["realized_savings_usd"] == pytest.approx(2.8 * in_effect)
    assert day["realized_gpu_hours_saved"] == pytest.approx(in_effect)
    # 12 hours of two $2 instances, the change's hour ($5.20), 11 hours of one $1.20 instance.
    assert day["cost_usd"] == pytest.approx(12 * 4.0 + 5.2 + 11 * 1.2)
    assert (day["gpu_hours"], day["measured_hours"]) == (12 * 2 + 3 + 11 * 1, 24)
    assert report["totals"]["realized_savings_usd"] == pytest.approx(2.8 * in_effect)
    assert report["notes"] == []


async def test_a_change_keeps_accruing_on_later_days(seeded: httpx.AsyncClient) -> None:
    next_day = E_DAY + timedelta(days=1)
    report = (
        await seeded.get(
            "/v1/reports/savings", params=_days(next_day, next_day + timedelta(days=1), workload_id="chat")
        )
    ).json()
    acme = [row for row in report["days"] if row["customer_id"] == "acme"]
    (day,) = acme
    assert (day["changes_executed"], day["changes_in_effect"]) == ([], 1)
    assert (day["estimated_savings_usd"], day["realized_savings_usd"]) == pytest.approx((24.0, 2.8 * 24))
    assert day["cost_usd"] == pytest.approx(12 * 1.2)  # records run to noon of that day


async def test_slo_attainment_per_day_and_breaches_with_their_windows(seeded: httpx.AsyncClient) -> None:
    response = await seeded.get("/v1/reports/slo", params=_days(D, D + timedelta(days=1), customer_id="acme"))
    assert response.status_code == 200, response.text
    (chat,) = response.json()["workloads"]
    assert (chat["ttft_p95_objective_s"], chat["itl_p95_objective_s"]) == (0.5, 0.05)
    (day,) = chat["days"]
    assert (day["windows_judged"], day["windows_met"], day["attainment"]) == (5, 2, 0.4)
    assert (day["worst_ttft_p95_s"], day["worst_itl_p95_s"]) == (0.8, 0.09)
    minute = timedelta(minutes=1)
    breaches = [(b["start"], b["end"], b["windows"], b["objectives_missed"]) for b in chat["breaches"]]
    assert breaches == [
        (_iso(D_START + minute), _iso(D_START + 3 * minute), 2, ["ttft_p95"]),
        (_iso(D_START + 4 * minute), _iso(D_START + 5 * minute), 1, ["itl_p95"]),
    ]
    assert chat["breaches"][0]["worst_ttft_p95_s"] == 0.8


async def test_inference_cost_per_million_tokens_and_idle_gpu_cost(seeded: httpx.AsyncClient) -> None:
    response = await seeded.get(
        "/v1/reports/inference-cost", params=_days(D, E_DAY + timedelta(days=1), customer_id="acme")
    )
    assert response.status_code == 200, response.text
    (chat,) = response.json()["items"]
    total = 24 * 4.0 + (12 * 4.0 + 5.2 + 11 * 1.2)  # day D, then E's day
    assert chat["model_name"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert chat["total_cost_usd"] == pytest.approx(total)
    assert chat["gpu_hours"] == 48 + 38
    assert chat["instances"] == 3
    assert (chat["prompt_tokens"], chat["generation_tokens"]) == (9 * 1000, 9 * 400)
    # Tokens were counted in hour 00:00 of D only, from 00:00 to 00:05: the rate is the cost of those five
    # minutes of i-a1 and i-a2 ($4.00 an hour) over the tokens, not two days of cost over them.
    matched = 4.0 * 5 / 60
    assert chat["token_covered_cost_usd"] == pytest.approx(matched)
    assert chat["token_covered_hours"] == pytest.approx(5 / 60)
    assert (chat["token_covered_prompt_tokens"], chat["token_covered_generation_tokens"]) == (9000, 3600)
    assert chat["token_coverage"] == pytest.approx(matched / total)
    assert chat["cost_per_million_tokens"] == pytest.approx(matched / 12_600 * 1e6)
    # 9,000 prompt tokens weigh as much as 3,600 generated ones at 2.5 each: the cost splits in half.
    assert chat["input_cost_per_million_tokens"] == pytest.approx(matched / 2 / 9000 * 1e6)
    assert chat["output_cost_per_million_tokens"] == pytest.approx(matched / 2 / 3600 * 1e6)
    assert any(
        note.startswith("$ per 1M tokens over the 5 minutes with token counts") for note in chat["notes"]
    )
    assert chat["cache_savings_fraction"] == pytest.approx(0.25)
    assert chat["idle_gpu_cost_usd"] == pytest.approx(24 * 2.0 * 0.75)
    assert chat["idle_gpu_hours"] == pytest.approx(24 * 0.75)
    assert chat["utilization_coverage"] == pytest.approx(48 / total)


async def test_a_customer_sees_its_own_figures_and_never_another_customers(
    seeded: httpx.AsyncClient, tenants: Tenants
) -> None:
    viewer = tenants.headers("globex", Role.VIEWER)
    params = _days(D, E_DAY + timedelta(days=1))
    own = (await seeded.get("/v1/reports/inference-cost", params=params, headers=viewer)).json()
    assert [(i["customer_id"], i["total_cost_usd"]) for i in own["items"]] == [("globex", 59.0)]
    savings = (await seeded.get("/v1/reports/savings", params=params, headers=viewer)).json()
    assert {row["customer_id"] for row in savings["days"]} == {"globex"}
    assert [c["recommendation_id"] for c in savings["changes"]] == ["rec-globex"]
    for path in ("savings", "slo", "inference-cost"):
        refused = await seeded.get(
            f"/v1/reports/{path}", params={**params, "customer_id": "acme"}, headers=viewer
        )
        assert refused.status_code == 403, path
    everyone = (await seeded.get("/v1/reports/inference-cost", params=params)).json()
    assert {i["customer_id"] for i in everyone["items"]} == {"acme", "globex"}


async def test_unknown_scopes_are_404_and_spans_out_of_bounds_are_422(seeded: httpx.AsyncClient) -> None:
    assert (await seeded.get("/v1/reports/savings", params={"customer_id": "initech"})).status_code == 404
    assert (await seeded.get("/v1/reports/slo", params={"workload_id": "nope"})).status_code == 404
    for path, params in (
        ("savings", {"since": "2026-03-02", "until": "2026-03-01"}),
        ("savings", {"since": "2024-01-01", "until": "2026-01-01"}),
        ("slo", {"since": "2026-01-01", "until": "2026-06-01"}),
        ("inference-cost", {"since": "1999-01-01"}),
        ("inference-cost", {"since": "1700000000"}),
    ):
        response = await seeded.get(f"/v1/reports/{path}", params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert isinstance(response.json()["detail"], list)


async def test_without_a_metrics_store_the_estimates_stand_and_the_report_says_why(
    api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_tenants(api)
    await _seed_store(api_sessions)
    report = (await api.get("/v1/reports/savings", params=_days(E_DAY, E_DAY + timedelta(days=1)))).json()
    assert any("no metrics store" in note for note in report["notes"])
    acme = next(c for c in report["changes"] if c["customer_id"] == "acme")
    assert acme["realized_monthly_savings_usd"] is None
    day = next(row for row in report["days"] if row["customer_id"] == "acme")
    assert day["estimated_savings_usd"] == pytest.approx(11 + 40 / 60)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
