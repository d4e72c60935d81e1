import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.domain.fleet import Workload
from optiinfra.domain.rates import RateWindow
from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.store import ChdbMetricsStore, UtilizationSample
from optiinfra.metrics.windows import WindowStats
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.traffic import default_generator
from optiinfra.sim.twin import (
    FleetTwin,
    RateSeries,
    TtftItlSlo,
    TwinClock,
    WindowRecord,
    WorkloadTwinSpec,
)
from optiinfra.sim.twin.clock import start_of_day
from optiinfra.sim.twin.fleet import ReplicaPlacement, gpu_utilization_p95

CATALOG = PriceCatalog.load_default()
START = datetime(2025, 6, 2, tzinfo=UTC)
WINDOW_S = 300.0
TWO_DAYS_S = 2 * 86_400.0


def _demo_ids() -> dict[str, list[str]]:
    return {
        demo.workload.workload_id: [
            f"i-{demo.workload.workload_id}-{index}" for index in range(demo.instance_count)
        ]
        for demo in demo_fleet().deployments
    }


def _demo_twin(requests_sample: int = 5) -> FleetTwin:
    return FleetTwin.from_demo_fleet(
        demo_fleet(), _demo_ids(), CATALOG, seed=3, clock=TwinClock(START), requests_sample=requests_sample
    )


@pytest.fixture(scope="module")
def two_days() -> dict[str, list[WindowRecord]]:
    twin = _demo_twin()
    by_workload: dict[str, list[WindowRecord]] = defaultdict(list)
    for _ in range(round(TWO_DAYS_S / WINDOW_S)):
        for record in twin.advance(WINDOW_S):
            by_workload[record.workload_id].append(record)
    return by_workload


def _gpu(records: Sequence[WindowRecord]) -> list[float]:
    return [record.utilization.gpu_utilization for record in records]


def test_chat_8b_keeps_its_gpu_busy_on_a_host_it_barely_touches(
    two_days: dict[str, list[WindowRecord]],
) -> None:
    chat = two_days["chat-8b"]
    assert len(chat) == 3 * 576
    assert 55 <= gpu_utilization_p95(chat) <= 70
    assert max(record.utilization.cpu_utilization for record in chat) < 12
    assert max(record.utilization.memory_utilization for record in chat) < 12
    assert all(record.slo_met for record in chat)


def test_code_assist_has_a_replica_to_spare_at_its_peak(two_days: dict[str, list[WindowRecord]]) -> None:
    gpu = _gpu(two_days["code-assist"])
    assert 40 <= statistics.fmean(gpu) <= 55
    assert 45 <= gpu_utilization_p95(two_days["code-assist"]) <= 62


def test_rag_embed_is_busy(two_days: dict[str, list[WindowRecord]]) -> None:
    assert 70 <= statistics.fmean(_gpu(two_days["rag-embed"])) <= 80


def test_batch_summarize_peaks_at_night(two_days: dict[str, list[WindowRecord]]) -> None:
    records = two_days["batch-summarize"]
    night = [record.utilization.gpu_utilization for record in records if 2 <= record.start.hour < 4]
    afternoon = [record.utilization.gpu_utilization for record in records if 14 <= record.start.hour < 16]
    assert 60 <= statistics.fmean(night) <= 80
    assert 60 <= max(_gpu(records)) <= 80
    assert statistics.fmean(afternoon) < 45


def test_every_demo_workload_meets_its_slo_at_its_current_size(
    two_days: dict[str, list[WindowRecord]],
) -> None:
    assert all(record.slo_met for records in two_days.values() for record in records)


def test_gpu_follows_the_demo_profile_daily_cycle(two_days: dict[str, list[WindowRecord]]) -> None:
    profile = demo_fleet().deployment("chat-8b").profiles[UtilizationMetric.GPU_UTILIZATION]
    peak_hour = [
        r.utilization.gpu_utilization for r in two_days["chat-8b"] if r.start.hour == profile.peak_hour_utc
    ]
    assert statistics.fmean(peak_hour) == pytest.approx(profile.mean + profile.daily_amplitude, abs=1.0)


def test_moving_to_a_smaller_host_with_the_same_gpu_keeps_the_gpu_and_raises_the_cpu_share() -> None:
    twin = _demo_twin()
    twin.clock.advance(16 * 3600)
    before = {r.replica_id: r for r in twin.advance(WINDOW_S) if r.workload_id == "chat-8b"}
    ids = _demo_ids()["chat-8b"]
    twin.sync_replicas("chat-8b", [(f"chat-8b-{index}", ids[index], "g5.2xlarge") for index in range(3)])
    after = {r.replica_id: r for r in twin.advance(WINDOW_S) if r.workload_id == "chat-8b"}
    for replica_id, record in after.items():
        assert record.instance_type == "g5.2xlarge"
        old = before[replica_id].utilization
        assert record.utilization.gpu_utilization == pytest.approx(old.gpu_utilization, abs=0.5)
        assert record.utilization.cpu_utilization > 3 * old.cpu_utilization


def test_removing_a_replica_spreads_its_load_over_the_others() -> None:
    twin = _demo_twin()
    twin.clock.advance(16 * 3600)
    before = [r for r in twin.advance(WINDOW_S) if r.workload_id == "code-assist"]
    ids = _demo_ids()["code-assist"]
    twin.sync_replicas(
        "code-assist", [(f"code-assist-{index}", ids[index], "g5.xlarge") for index in range(3)]
    )
    after = [r for r in twin.advance(WINDOW_S) if r.workload_id == "code-assist"]
    assert len(after) == 3
    assert after[0].utilization.gpu_utilization == pytest.approx(
        before[0].utilization.gpu_utilization * 4 / 3, rel=0.02
    )
    assert after[0].window.ttft_p95_s > before[0].window.ttft_p95_s
    twin.sync_replicas(
        "code-assist", [(f"code-assist-{index}", ids[index], "g5.xlarge") for index in range(2)]
    )
    halved = [r for r in twin.advance(WINDOW_S) if r.workload_id == "code-assist"]
    assert all(r.window.performance.saturated and not r.slo_met for r in halved)


def test_a_replica_changed_under_the_twin_restarts_its_counters() -> None:
    twin = _demo_twin()
    states = twin.metrics_states()
    twin.run(3600, WINDOW_S)
    total_before = states["rag-embed-0"].snapshot().counters
    assert total_before  # something was counted
    twin.sync_replicas(
        "rag-embed", [("rag-embed-0", "i-new", "g6.2xlarge"), ("rag-embed-1", "i-rag-embed-1", "g6.xlarge")]
    )
    assert twin.metrics_states()["rag-embed-0"] is states["rag-embed-0"]
    assert sum(states["rag-embed-0"].snapshot().finished_by_reason.values()) == 0
    assert sum(states["rag-embed-1"].snapshot().finished_by_reason.values()) > 0
    with pytest.raises(ValueError, match="unique"):
        twin.sync_replicas("rag-embed", [("chat-8b-0", "i-x", "g6.xlarge")])


def test_a_draining_replica_gets_no_traffic_and_empties_while_the_others_carry_it() -> None:
    twin = _demo_twin()
    twin.clock.advance(16 * 3600)
    ids = _demo_ids()["code-assist"]
    placements = [ReplicaPlacement(f"code-assist-{i}", ids[i], "g5.xlarge") for i in range(4)]
    before = {r.replica_id: r for r in twin.advance(WINDOW_S) if r.workload_id == "code-assist"}
    assert before["code-assist-3"].window.running > 0
    twin.sync_replicas("code-assist", [*placements[:3], placements[3]._replace(serving=False)])
    after = {r.replica_id: r for r in twin.advance(WINDOW_S) if r.workload_id == "code-assist"}
    assert after["code-assist-3"].window.offered_rps == 0
    gauges = twin.metrics_states()["code-assist-3"].snapshot().gauges
    assert gauges[names.NUM_REQUESTS_RUNNING] == gauges[names.NUM_REQUESTS_WAITING] == 0
    assert after["code-assist-0"].window.offered_rps == pytest.approx(
        before["code-assist-0"].window.offered_rps * 4 / 3, rel=0.02
    )


def test_a_replica_restarted_with_other_vllm_arguments_runs_on_them() -> None:
    twin = _demo_twin()
    ids = _demo_ids()["code-assist"]
    default = twin.replicas("code-assist")[0].config
    smaller = replace(default, max_num_seqs=8)
    states = twin.metrics_states()
    twin.run(3600, WINDOW_S)
    twin.sync_replicas(
        "code-assist",
        [ReplicaPlacement("code-assist-0", ids[0], "g5.xlarge", smaller)]
        + [ReplicaPlacement(f"code-assist-{i}", ids[i], "g5.xlarge") for i in range(1, 4)],
    )
    replicas = {replica.replica_id: replica for replica in twin.replicas("code-assist")}
    assert replicas["code-assist-0"].config.max_num_seqs == 8
    assert replicas["code-assist-1"].config == default
    assert sum(states["code-assist-0"].snapshot().finished_by_reason.values()) == 0
    assert sum(states["code-assist-1"].snapshot().finished_by_reason.values()) > 0


class _ListSink:
    def __init__(self) -> None:
        self.utilization: list[UtilizationSample] = []
        self.window_stats: list[WindowStats] = []
        self.writes = 0

    def write_utilization(self, rows: Sequence[UtilizationSample]) -> None:
        self.utilization.extend(rows)
        self.writes += 1

    def write_window_stats(self, rows: Sequence[WindowStats]) -> None:
        self.window_stats.extend(rows)
        self.writes += 1


def test_run_writes_utilization_and_the_scraped_window_statistics() -> None:
    twin = _demo_twin(requests_sample=50)
    sink = _ListSink()
    summary = twin.run(3 * 3600, WINDOW_S, sink, batch_rows=100)
    replicas = sum(demo.instance_count for demo in demo_fleet().deployments)
    assert summary.windows == 36
    assert summary.utilization_rows == len(sink.utilization) == 36 * replicas
    assert summary.window_stats_rows == len(sink.window_stats) == 36 * replicas
    assert summary.rows_written == 2 * 36 * replicas
    assert summary.slo_attainment == 1.0
    assert sink.writes > 2  # batched, not one write at the end
    first = sink.utilization[0]
    assert first.at == START and first.customer_id == "demo"
    stats = [row for row in sink.window_stats if row.replica == "code-assist-0"]
    assert [row.window_start for row in stats[:2]] == [START, START + timedelta(seconds=WINDOW_S)]
    assert all(row.workload_id == "code-assist" and row.requests > 0 for row in stats)
    assert all(row.ttft_p95 is not None and row.ttft_p95 < 10 for row in stats)


def test_run_feeds_a_real_chdb_store(tmp_path: Path) -> None:
    start = start_of_day(datetime.now(UTC)) - timedelta(days=1)  # inside the store's retention
    twin = FleetTwin.from_demo_fleet(
        demo_fleet(), _demo_ids(), CATALOG, seed=3, clock=TwinClock(start), requests_sample=20
    )
    with ChdbMetricsStore(tmp_path / "chdb") as store:
        twin.run(2 * 3600, WINDOW_S, store)
        series = store.read_utilization(["i-chat-8b-0"], start, start + timedelta(hours=2), 3600)
        stats = store.read_window_stats("demo", "chat-8b", start, start + timedelta(hours=2))
    gpu = next(s for s in series if s.metric is UtilizationMetric.GPU_UTILIZATION)
    assert len(gpu.values) == 2 and all(30 < value < 70 for value in gpu.values)
    assert len(stats) == 3 * 24


def test_a_rate_series_drives_a_workload_and_repeats_past_its_end() -> None:
    workload = Workload(
        customer_id="c", workload_id="w", name="W", model_name="Llama-3.1-8B", region="us-east-1"
    )
    series = [RateWindow(0, 600, 0.4), RateWindow(600, 600, 0.8)]
    spec = WorkloadTwinSpec(
        workload, [("w-0", "i-0", "g6.xlarge")], series, default_generator().token_mix, TtftItlSlo(8, 0.2)
    )
    twin = FleetTwin([spec], CATALOG, seed=1, clock=TwinClock(START))
    rates = [twin.advance(600)[0].window.offered_rps for _ in range(4)]
    assert rates == pytest.approx([0.4, 0.8, 0.4, 0.8])
    assert spec.reported_prefix_hit_rate == 0.0


def test_rate_series_means_span_windows_and_gaps() -> None:
    series = RateSeries([RateWindow(0, 100, 1.0), RateWindow(200, 100, 3.0)])
    assert series.mean_rate(0, 100) == pytest.approx(1.0)
    assert series.mean_rate(50, 100) == pytest.approx(0.5)  # half a window, half the gap
    assert series.mean_rate(0, 300) == pytest.approx(4 / 3)
    assert series.mean_rate(300, 100) == pytest.approx(1.0)  # the series repeats with period 300 s
    assert math.isclose(series.mean_rate(-100, 100), 3.0)


def test_the_demo_twin_needs_every_workloads_instances() -> None:
    ids = _demo_ids()
    del ids["rag-embed"]
    with pytest.raises(KeyError, match="rag-embed"):
        FleetTwin.from_demo_fleet(demo_fleet(), ids, CATALOG, seed=1)
