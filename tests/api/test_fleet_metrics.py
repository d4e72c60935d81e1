"""The fleet's figures on the API's /metrics, read from the stores: acme/chat's spend in its last measured
hour, its SLO attainment over the last hour, when our last change to it finished, and each customer's
approval queue; nothing for what was not measured; the stores read beside the scrapes, at most once per
refresh period.

The records: acme/chat (objectives: p95 TTFT 0.5 s, p95 ITL 0.05 s) ran i-a1 ($1.00/h) and i-a2 ($2.50/h)
this hour; of its four one-minute windows in the last hour, i-a2 missed the TTFT objective in one, so three
of four were met. globex/chat has no objective and no record."""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.fleet_metrics import SCRAPE_WAIT_SECONDS
from optiinfra.domain.enums import PurchaseOption, RecommendationStatus
from optiinfra.metrics.reporting import ReportingMetrics, ReportingMetricsStore
from optiinfra.metrics.store import ChdbRunner, CostSample, SqlRunner
from optiinfra.reports.fleet_snapshot import fleet_snapshot
from optiinfra.settings import Settings
from optiinfra.store import repository
from tests.optiinfra.reports.builders import window_stats
from tests.optiinfra.store import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass(frozen=True)
class Moments:
    """The records' times, taken when a test seeds them (not at import: a test may run long after)."""

    now: datetime

    @property
    def minute(self) -> datetime:
        return self.now.replace(second=0, microsecond=0)

    @property
    def this_hour(self) -> datetime:
        return self.now.replace(minute=0, second=0, microsecond=0)

    @property
    def changed(self) -> datetime:
        return self.minute - timedelta(minutes=55)

    @property
    def oldest_pending(self) -> datetime:
        return self.now - timedelta(hours=2)


Labels = tuple[tuple[str, str], ...]


async def _app(
    temporal_client: Client,
    sessions: async_sessionmaker[AsyncSession],
    metrics: ReportingMetrics | None,
    refresh_seconds: float,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        temporal_task_queue="fleet-metrics-tests",
        api_token=SecretStr("fleet-metrics-token-0123"),
        fleet_metrics_refresh_seconds=refresh_seconds,
        metrics_interval_seconds=60,
    )
    app: FastAPI = create_app(settings, client=temporal_client, sessions=sessions, metrics=metrics)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http,
    ):
        yield http


async def _seed(sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics | None) -> Moments:
    at = Moments(datetime.now(UTC))
    async with sessions.begin() as session:
        for customer in ("acme", "globex"):
            await repository.upsert_customer(session=session, customer=factories.customer(customer))
        objectives = {"slo_ttft_p95_s": 0.5, "slo_itl_p95_s": 0.05}
        await repository.upsert_workload(
            session=session, workload=factories.workload("acme").model_copy(update=objectives)
        )
        await repository.upsert_workload(session=session, workload=factories.workload("globex"))
        for name, made in (("old", at.oldest_pending), ("new", at.now - timedelta(minutes=10))):
            pending = factories.recommendation(f"fm-{name}", created_at=made)
            await repository.save_recommendation(session=session, recommendation=pending)
        executed = factories.recommendation("fm-executed", status=RecommendationStatus.EXECUTED)
        await repository.save_recommendation(session=session, recommendation=executed)
        result = factories.step_result().model_copy(update={"finished_at": at.changed})
        await repository.update_recommendation_status(
            session=session,
            recommendation_id="fm-executed",
            status=RecommendationStatus.EXECUTED,
            outcome=factories.outcome("fm-executed").model_copy(
                update={"finished_at": at.changed, "step_results": [result]}
            ),
        )
    if metrics is None:
        return at
    await metrics.write_cost_samples(
        [
            CostSample(
                customer_id="acme",
                instance_id=instance,
                instance_type="g5.xlarge",
                lifecycle=PurchaseOption.ON_DEMAND,
                hour=at.this_hour,
                hourly_usd=usd,
            )
            for instance, usd in (("i-a1", 1.0), ("i-a2", 2.5))
        ]
    )
    windows = []
    for n, minutes_ago in enumerate((50, 40, 30, 20)):
        start = at.minute - timedelta(minutes=minutes_ago)
        for replica in ("i-a1", "i-a2"):
            slow = n == 2 and replica == "i-a2"
            windows.append(window_stats(replica, start, ttft_p95=0.9 if slow else 0.3, itl_p95=0.02))
    await metrics.write_window_stats(windows)
    return at


async def _scrape_once(http: httpx.AsyncClient) -> dict[str, dict[Labels, float]]:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    found: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def _scrape(http: httpx.AsyncClient) -> dict[str, dict[Labels, float]]:
    """The first scrape that shows the fleet's figures: the stores are read beside the scrapes (a first read
    can take seconds on a loaded machine, and a scrape waits for it only SCRAPE_WAIT_SECONDS). Until the
    first read is done the snapshot's timestamp is 0, as a gauge without labels always shows a value."""
    deadline = time.monotonic() + 60
    while True:
        scraped = await _scrape_once(http)
        if any(scraped.get("optiinfra_fleet_snapshot_timestamp_seconds", {}).values()):
            return scraped
        assert time.monotonic() < deadline, "the fleet's figures were not read within 60 s"
        await asyncio.sleep(0.1)


ACME = (("customer", "acme"), ("workload", "chat"))
GLOBEX = (("customer", "globex"), ("workload", "chat"))


async def test_the_fleets_figures_are_the_stores(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession], metrics: ReportingMetrics
) -> None:
    at = await _seed(api_sessions, metrics)
    async for http in _app(temporal_client, api_sessions, metrics, refresh_seconds=30):
        scraped = await _scrape(http)
    assert scraped["optiinfra_workload_spend_usd_per_hour"] == {ACME: 3.5}
    assert scraped["optiinfra_workload_slo_attainment_ratio"] == {ACME: 0.75}
    assert scraped["optiinfra_workload_slo_windows_judged"] == {ACME: 4}
    assert scraped["optiinfra_workload_last_change_timestamp_seconds"] == {ACME: at.changed.timestamp()}
    assert scraped["optiinfra_approval_queue_pending"] == {
        (("customer", "acme"),): 2,
        (("customer", "globex"),): 0,
    }
    (taken,) = scraped["optiinfra_fleet_snapshot_timestamp_seconds"].values()
    assert at.now.timestamp() <= taken <= datetime.now(UTC).timestamp()
    (oldest,) = scraped["optiinfra_approval_queue_oldest_age_seconds"].items()
    assert oldest[0] == (("customer", "acme"),)
    assert oldest[1] == pytest.approx(taken - at.oldest_pending.timestamp(), abs=1)  # its age when read
    assert GLOBEX not in scraped.get("optiinfra_workload_spend_usd_per_hour", {})


async def test_without_a_metrics_store_only_the_recommendations_are_shown(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    at = await _seed(api_sessions, None)
    async for http in _app(temporal_client, api_sessions, None, refresh_seconds=30):
        scraped = await _scrape(http)
    for unmeasured in ("optiinfra_workload_spend_usd_per_hour", "optiinfra_workload_slo_attainment_ratio"):
        assert scraped.get(unmeasured, {}) == {}, unmeasured
    assert scraped["optiinfra_approval_queue_pending"][(("customer", "acme"),)] == 2
    assert scraped["optiinfra_workload_last_change_timestamp_seconds"] == {ACME: at.changed.timestamp()}


async def _pending(http: httpx.AsyncClient) -> float:
    return (await _scrape_once(http))["optiinfra_approval_queue_pending"][(("customer", "acme"),)]


async def test_the_stores_are_read_again_only_after_the_refresh_period(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _seed(api_sessions, None)
    async for http in _app(temporal_client, api_sessions, None, refresh_seconds=3600):
        assert (await _scrape(http))["optiinfra_approval_queue_pending"][(("customer", "acme"),)] == 2
        await _add_pending(api_sessions)
        for _ in range(5):
            assert await _pending(http) == 2  # the figures read first, for the hour
            await asyncio.sleep(0.1)


async def test_a_refresh_period_of_zero_reads_the_stores_on_every_scrape(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _seed(api_sessions, None)
    async for http in _app(temporal_client, api_sessions, None, refresh_seconds=0):
        assert (await _scrape(http))["optiinfra_approval_queue_pending"][(("customer", "acme"),)] == 2
        await _add_pending(api_sessions)
        deadline = time.monotonic() + 10
        while await _pending(http) != 3:
            assert time.monotonic() < deadline, "the new recommendation never showed"
            await asyncio.sleep(0.1)


async def _add_pending(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        later = factories.recommendation("fm-later", created_at=datetime.now(UTC))
        await repository.save_recommendation(session=session, recommendation=later)


class CountingRunner:
    """A runner that counts the reads it passes on."""

    def __init__(self, runner: SqlRunner) -> None:
        self.runner = runner
        self.selects = 0

    def command(self, sql: str) -> None:
        self.runner.command(sql)

    def select(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.selects += 1
        return self.runner.select(sql, params)

    def insert(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        self.runner.insert(table, columns, rows)

    def close(self) -> None:
        self.runner.close()


class SlowRunner(CountingRunner):
    """A runner whose every read takes longer than a scrape waits for the stores."""

    def select(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        time.sleep(SCRAPE_WAIT_SECONDS * 2)
        return super().select(sql, params)


async def test_a_scrape_during_a_slow_first_read_shows_no_figures_and_a_zero_timestamp(
    temporal_client: Client, api_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    metrics = ReportingMetrics(ReportingMetricsStore(SlowRunner(ChdbRunner(tmp_path / "metrics"))))
    try:
        await _seed(api_sessions, metrics)
        async for http in _app(temporal_client, api_sessions, metrics, refresh_seconds=30):
            started = time.monotonic()
            first = await _scrape_once(http)
            answered_after = time.monotonic() - started
            later = await _scrape(http)
    finally:
        metrics.close()
    assert answered_after < SCRAPE_WAIT_SECONDS * 2, "the scrape waited for the slow read"
    assert first["optiinfra_fleet_snapshot_timestamp_seconds"] == {(): 0.0}
    assert "optiinfra_workload_spend_usd_per_hour" not in first
    assert later["optiinfra_workload_spend_usd_per_hour"] == {ACME: 3.5}


async def test_the_metrics_store_is_read_as_often_for_ten_workloads_as_for_one(
    api_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    runner = CountingRunner(ChdbRunner(tmp_path / "metrics"))
    metrics = ReportingMetrics(ReportingMetricsStore(runner))
    try:
        at = await _seed(api_sessions, metrics)
        before = runner.selects
        first = await fleet_snapshot(api_sessions, metrics, at.now, window_seconds=60)
        reads_for_one = runner.selects - before
        names = [f"chat-{n}" for n in range(9)]
        async with api_sessions.begin() as session:
            for name in names:
                await repository.upsert_workload(session=session, workload=factories.workload("acme", name))
        start = at.minute - timedelta(minutes=30)
        await metrics.write_window_stats(
            [window_stats(f"i-{name}", start, workload_id=name) for name in names]
        )
        await metrics.write_cost_samples(
            [
                CostSample(
                    customer_id="acme",
                    instance_id=f"i-{name}",
                    instance_type="g5.xlarge",
                    lifecycle=PurchaseOption.ON_DEMAND,
                    hour=at.this_hour,
                    hourly_usd=1.0 + n,
                )
                for n, name in enumerate(names)
            ]
        )
        before = runner.selects
        second = await fleet_snapshot(api_sessions, metrics, at.now, window_seconds=60)
        assert runner.selects - before == reads_for_one
    finally:
        metrics.close()
    spend = {(r.customer_id, r.workload_id): r.spend_usd_per_hour for r in second.workloads}
    assert spend == {
        ("acme", "chat"): 3.5,
        ("globex", "chat"): None,
        **{("acme", name): 1.0 + n for n, name in enumerate(names)},
    }
    assert [r for r in first.workloads if r.workload_id == "chat"] == [
        r for r in second.workloads if r.workload_id == "chat"
    ]
