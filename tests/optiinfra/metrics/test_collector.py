"""A collection pass over the moto twin and emulated vLLM replicas, into chdb."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.metrics.collector import MetricsCollector, StaticTargets
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.vllm_emulator import ReplicaMetricsState, VllmEmulatorServer
from tests.support.cloud import SeededCloud


@pytest.fixture
def chdb_store(tmp_path: Path) -> Iterator[ChdbMetricsStore]:
    store = ChdbMetricsStore(tmp_path / "metrics")
    yield store
    store.close()


def collector_for(
    store: ChdbMetricsStore, cloud: SeededCloud, http: httpx.AsyncClient, urls: dict[str, str]
) -> MetricsCollector:
    return MetricsCollector(
        store=AsyncMetricsStore(store),
        fleet=cloud.fleet,
        resolver=StaticTargets(urls),
        http=http,
        catalog=PriceCatalog.load_default(),
    )


async def test_first_pass_backfills_cloudwatch_history_and_later_passes_catch_up(
    seeded_cloud: SeededCloud, chdb_store: ChdbMetricsStore, http_client: httpx.AsyncClient
) -> None:
    chat = demo_fleet().deployment("chat-8b")
    collector = collector_for(chdb_store, seeded_cloud, http_client, {})
    now = datetime.now(UTC)

    first = await collector.collect(chat.workload, now)
    again = await collector.collect(chat.workload, now)

    ids = seeded_cloud.seeded.instance_ids["chat-8b"]
    assert first.utilization_rows >= len(ids) * (14 * 24 - 2)
    assert first.cost_rows == again.cost_rows == len(ids)
    costs = chdb_store.read_cost_samples(ids, now - timedelta(hours=1), now + timedelta(hours=1))
    on_demand = PriceCatalog.load_default().get("g5.8xlarge", "us-east-1").on_demand_hourly_usd
    assert sorted(c.instance_id for c in costs) == sorted(ids)  # the second pass replaced, not added
    assert {c.hourly_usd for c in costs} == {on_demand}
    assert 0 < again.utilization_rows <= len(ids) * 3
    read = chdb_store.read_utilization(ids, now - timedelta(days=14), now, 3600)
    seeded = {(s.instance_id, s.metric): s for s in seeded_cloud.seeded.series}
    for series in read:
        if series.metric is UtilizationMetric.GPU_MEMORY_UTILIZATION:
            continue
        original = seeded[(series.instance_id, series.metric)].values
        assert series.values[-24:] == pytest.approx(original[-24:], abs=0.01)


async def test_replicas_are_scraped_into_window_stats(
    seeded_cloud: SeededCloud,
    chdb_store: ChdbMetricsStore,
    http_client: httpx.AsyncClient,
    emulator: VllmEmulatorServer,
) -> None:
    chat = demo_fleet().deployment("chat-8b")
    ids = seeded_cloud.seeded.instance_ids["chat-8b"]
    states = {iid: ReplicaMetricsState(chat.workload.model_name) for iid in ids}
    urls = {iid: emulator.add_replica(iid, state) + "/metrics" for iid, state in states.items()}
    urls[ids[-1]] = "http://127.0.0.1:9/metrics"  # a replica that does not answer
    collector = collector_for(chdb_store, seeded_cloud, http_client, urls)

    primed = await collector.collect(chat.workload, datetime.now(UTC))
    for state in states.values():
        for _ in range(20):
            state.observe_request(queue_s=0.01, ttft_s=0.2, e2e_s=2.0, prompt_tokens=500, output_tokens=100)
    collected = await collector.collect(chat.workload, datetime.now(UTC))

    assert primed.primed_replicas == len(ids) - 1
    assert collected.window_rows == len(ids) - 1
    assert len(collected.failures) == 1
    assert ids[-1] in collected.failures[0]
    rows = chdb_store.read_window_stats(
        "demo", "chat-8b", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    )
    assert sorted(r.replica for r in rows) == sorted(ids[:-1])
    assert {r.requests for r in rows} == {20}
    assert all(r.ttft_p50 is not None and 0.1 <= r.ttft_p50 <= 0.25 for r in rows)
