"""`GET /v1/recommendations` narrowed by agent and risk level, beside status, customer and workload."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.access.principal import Role
from optiinfra.domain.enums import AgentKind, RecommendationStatus, RiskLevel
from optiinfra.store import repository
from tests.api.tenancy import make_tenants
from tests.optiinfra.store import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

# (id, customer, agent, risk, status)
RECOMMENDATIONS = [
    ("f-cost-low", "acme", AgentKind.COST, RiskLevel.LOW, RecommendationStatus.PENDING_APPROVAL),
    ("f-cost-high", "acme", AgentKind.COST, RiskLevel.HIGH, RecommendationStatus.REJECTED),
    ("f-perf-high", "acme", AgentKind.PERFORMANCE, RiskLevel.HIGH, RecommendationStatus.PENDING_APPROVAL),
    ("f-res-low", "acme", AgentKind.RESOURCE, RiskLevel.LOW, RecommendationStatus.PENDING_APPROVAL),
    ("f-globex-perf", "globex", AgentKind.PERFORMANCE, RiskLevel.HIGH, RecommendationStatus.PENDING_APPROVAL),
]


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for n, (recommendation_id, customer_id, agent, risk, status) in enumerate(RECOMMENDATIONS):
            base = factories.recommendation(recommendation_id, customer_id=customer_id, status=status)
            await repository.save_recommendation(
                session=session,
                recommendation=base.model_copy(
                    update={
                        "agent": agent,
                        "risk_level": risk,
                        "created_at": base.created_at + timedelta(minutes=n),
                    }
                ),
            )


async def _ids(api: httpx.AsyncClient, **params: str) -> list[str]:
    response = await api.get("/v1/recommendations", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])
    return [item["id"] for item in page["items"]]


async def test_recommendations_filter_by_agent_and_risk(
    api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _seed(api_sessions)
    assert await _ids(api, agent="cost") == ["f-cost-high", "f-cost-low"]
    assert await _ids(api, risk_level="high") == ["f-globex-perf", "f-perf-high", "f-cost-high"]
    assert await _ids(api, agent="performance", risk_level="high", customer_id="acme") == ["f-perf-high"]
    assert await _ids(api, risk_level="low", status="pending_approval") == ["f-res-low", "f-cost-low"]
    assert await _ids(api, agent="application") == []
    assert (await api.get("/v1/recommendations", params={"agent": "finance"})).status_code == 422
    assert (await api.get("/v1/recommendations", params={"risk_level": "extreme"})).status_code == 422


async def test_a_tenants_filters_stay_within_its_customer(
    api: httpx.AsyncClient, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenants = await make_tenants(api)
    await _seed(api_sessions)
    response = await api.get(
        "/v1/recommendations", params={"agent": "performance"}, headers=tenants.headers("acme", Role.VIEWER)
    )
    assert [item["id"] for item in response.json()["items"]] == ["f-perf-high"]
