"""Window statistics read from Prometheus: the source asks for exactly the PromQL of the workload's
instances (a stand-in server answers only queries it recognises, matched by their full text), turns the
answers into one row per instance with defaults for what is missing, and a collection pass given the
source writes those rows instead of scraping."""

import asyncio
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import Instance
from optiinfra.metrics.collector import MetricsCollector, StaticTargets
from optiinfra.metrics.prometheus_api import PrometheusQueryError, window_stat_queries
from optiinfra.metrics.prometheus_windows import PrometheusWindowSource, instance_id_key
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.metrics.windows import WindowStats
from optiinfra.settings import Settings
from optiinfra.sim.demo_fleet import demo_fleet
from tests.support.cloud import SeededCloud
from tests.support.prometheus_standin import QUERY_RANGE_PATH, JsonQueryHandler, PrometheusStandIn, serving
from workers.all_in_one import prometheus_source

NOW = datetime(2026, 5, 1, 10, 0, 30, 250000, tzinfo=UTC)
WINDOW = timedelta(seconds=60)
IP_PATTERN = r"(?:10\.0\.0\.1|10\.0\.0\.2|10\.0\.0\.3)(?::[0-9]+)?"
QUANTILE_FIELDS = [
    name for name in WindowStats.model_fields if name.endswith(("_mean", "_p50", "_p90", "_p95", "_p99"))
]
Series = Mapping[str, tuple[dict[str, str], str]]  # field -> (labels, value), one instance


class _CannedPrometheus(PrometheusStandIn):
    """Answers a query_range whose PromQL text is a key of `answers`; anything else is bad_data, so a
    query the source should not have sent fails the test."""

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.answers: dict[str, list[dict[str, Any]]] = {}
        self.raw: dict[str, tuple[int, dict[str, Any]]] = {}

    def expect(
        self, queries: Mapping[str, str], by_instance: Mapping[str, Series], *, label: str = "instance"
    ) -> None:
        """Canned matrices for `queries` (field -> PromQL): one series per instance label value that
        has the field, its one point at the query's time."""
        self.answers = {
            promql: [
                {"metric": {label: value, **extra}, "values": [[0, point]]}
                for value, fields in by_instance.items()
                if field in fields
                for extra, point in [fields[field]]
            ]
            for field, promql in queries.items()
        }


class _Handler(JsonQueryHandler):
    server: _CannedPrometheus

    def do_POST(self) -> None:
        form = self.read_form()
        query = form.get("query", "")
        if self.path != QUERY_RANGE_PATH:
            self.send_json(404, {"status": "error", "errorType": "not_found", "error": self.path})
        elif query in self.server.raw:
            self.send_json(*self.server.raw[query])
        elif query in self.server.answers:
            result = [
                {**series, "values": [[float(form["end"]), v] for _, v in series["values"]]}
                for series in self.server.answers[query]
            ]
            self.send_json(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
        else:
            self.send_json(400, {"status": "error", "errorType": "bad_data", "error": f"unexpected {query}"})


@pytest.fixture
def prometheus() -> Iterator[_CannedPrometheus]:
    with serving(_CannedPrometheus()) as server:
        yield server


def _instance(instance_id: str, ip: str | None, state: str = "running") -> Instance:
    return Instance(
        instance_id=instance_id,
        instance_type="g5.xlarge",
        lifecycle=PurchaseOption.ON_DEMAND,
        state=state,
        image_id="ami-1",
        private_ip=ip,
    )


INSTANCES = [
    _instance("i-a", "10.0.0.1"),
    _instance("i-b", "10.0.0.2"),
    _instance("i-c", "10.0.0.3"),  # running, but Prometheus has no series for it
    _instance("i-stopped", "10.0.0.4", state="stopped"),
    _instance("i-no-ip", None),
]

FULL: dict[str, float] = {
    "request_rate": 2.0,
    "prompt_tps": 1000.0,
    "generation_tps": 200.0,
    "preemption_rate": 0.25,
    "prefix_queries": 30000.0,
    "prefix_hits": 12000.0,
    "errors": 3.0,
    "aborts": 2.0,
    "prefix_hit_rate": 0.4,
    "error_rate": 0.025,
    "running": 7.0,
    "waiting": 1.0,
    "kv_usage": 0.5,
    "counter_reset": 1.0,
    **{name: 0.125 * (n + 1) for n, name in enumerate(QUANTILE_FIELDS)},
}


def _series(values: Mapping[str, float | str], model: str | None = None) -> Series:
    """One instance's answers; every instance with series is also in the `model_name` group."""
    series: dict[str, tuple[dict[str, str], str]] = {
        field: ({}, str(value)) for field, value in values.items()
    }
    series["model_name"] = ({"model_name": model} if model is not None else {}, "1")
    return series


def _stats(replica: str, model_name: str, **fields: object) -> WindowStats:
    return WindowStats.model_validate(
        {
            "customer_id": "acme",
            "workload_id": "chat",
            "replica": replica,
            "model_name": model_name,
            "window_start": NOW - WINDOW,
            "window_end": NOW,
            **fields,
        }
    )


ZEROS: dict[str, object] = {
    "counter_reset": False,
    **dict.fromkeys(["requests", "prompt_tokens", "generation_tokens", "preemptions"], 0.0),
    **dict.fromkeys(["prefix_queries", "prefix_hits", "errors", "aborts"], 0.0),
    **dict.fromkeys(["request_rate", "prompt_tps", "generation_tps", "preemption_rate"], 0.0),
    **dict.fromkeys(["running", "waiting", "kv_usage"], 0.0),
    **dict.fromkeys(["prefix_hit_rate", "error_rate", *QUANTILE_FIELDS], None),
}


def _source(server: _CannedPrometheus, http: httpx.AsyncClient, **kwargs: Any) -> PrometheusWindowSource:
    return PrometheusWindowSource(
        server.url, http, **{"window": WINDOW, "matchers": {"job": "vllm"}, **kwargs}
    )


def _queries(pattern: str = IP_PATTERN, label: str = "instance") -> dict[str, str]:
    return window_stat_queries({"job": "vllm"}, WINDOW, by=(label,), regex_matchers={label: pattern})


async def test_two_instances_become_two_rows_with_defaults_for_what_is_missing(
    prometheus: _CannedPrometheus, http_client: httpx.AsyncClient
) -> None:
    partial: dict[str, float | str] = {"request_rate": 1.0, "running": 2.0, "e2e_mean": 1.5}
    partial |= {"ttft_p99": "NaN", "ttft_p50": "+Inf", "itl_p50": "0.02"}
    prometheus.expect(
        _queries(),
        {
            "10.0.0.1:8000": _series(FULL, model="llama-8b"),
            "10.0.0.1:8001": _series({**FULL, "running": 99.0}, model="zz"),  # a second target: ignored
            "10.0.0.2:8000": _series(partial),
            "10.0.0.99:8000": _series(FULL),  # not this workload's
        },
    )

    rows = await _source(prometheus, http_client).window_stats("acme", "chat", INSTANCES, NOW)

    assert {form["query"] for form in prometheus.forms} == set(_queries().values())
    assert {(f["start"], f["end"], f["step"]) for f in prometheus.forms} == {
        (f"{NOW.timestamp():.3f}", f"{NOW.timestamp():.3f}", "60")
    }
    rates_as_counts = {"requests": 120.0, "prompt_tokens": 60000.0, "generation_tokens": 12000.0}
    full = {**FULL, **rates_as_counts, "preemptions": 15.0, "counter_reset": True}
    assert rows == [
        _stats("i-a", "llama-8b", **full),
        _stats(
            "i-b",
            "",
            **{
                **ZEROS,
                "request_rate": 1.0,
                "requests": 60.0,
                "running": 2.0,
                "e2e_mean": 1.5,
                "itl_p50": 0.02,
                "error_rate": 0.0,  # requests but no error series: none failed
            },
        ),
    ]


async def test_an_instance_label_of_instance_ids_is_matched_literally(
    prometheus: _CannedPrometheus, http_client: httpx.AsyncClient
) -> None:
    instances = [_instance("i-0a.b", None), _instance("i-0c", None)]
    queries = _queries(r"(?:i-0a\.b|i-0c)(?::[0-9]+)?", label="replica_id")
    prometheus.expect(
        queries,
        {"i-0a.b": _series({"request_rate": 0.5}), "i-0aXb": _series({"request_rate": 9.0})},
        label="replica_id",
    )
    source = _source(prometheus, http_client, instance_label="replica_id", instance_key=instance_id_key)

    rows = await source.window_stats("acme", "chat", instances, NOW.replace(tzinfo=None))

    assert [(r.replica, r.request_rate, r.requests, r.window_end) for r in rows] == [
        ("i-0a.b", 0.5, 30.0, NOW)
    ]


async def test_errors_and_malformed_answers_are_query_errors(
    prometheus: _CannedPrometheus, http_client: httpx.AsyncClient
) -> None:
    queries = _queries()
    prometheus.expect(queries, {"10.0.0.1:8000": _series(FULL)})
    source = _source(prometheus, http_client)
    prometheus.raw = {
        queries["ttft_p95"]: (422, {"status": "error", "errorType": "execution", "error": "boom"})
    }
    with pytest.raises(PrometheusQueryError, match="execution: boom"):
        await source.window_stats("acme", "chat", INSTANCES, NOW)
    assert asyncio.all_tasks() == {asyncio.current_task()}  # the other queries were cancelled
    vector = {"status": "success", "data": {"resultType": "vector", "result": []}}
    prometheus.raw = {queries["running"]: (200, vector)}
    with pytest.raises(PrometheusQueryError, match="expected a matrix"):
        await source.window_stats("acme", "chat", INSTANCES, NOW)
    garbled = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": 1}]}}
    prometheus.raw = {queries["model_name"]: (200, garbled)}
    with pytest.raises(PrometheusQueryError, match="malformed"):
        await source.window_stats("acme", "chat", INSTANCES, NOW)


async def test_no_selectable_instance_asks_nothing(
    prometheus: _CannedPrometheus, http_client: httpx.AsyncClient
) -> None:
    rows = await _source(prometheus, http_client).window_stats("acme", "chat", INSTANCES[3:], NOW)
    assert rows == []
    assert prometheus.forms == []
    with pytest.raises(ValueError, match="whole number"):
        _source(prometheus, http_client, window=timedelta(seconds=0.5))
    with pytest.raises(ValueError, match="label name"):
        _source(prometheus, http_client, instance_label='instance"} or up{')


@pytest.fixture
def chdb_store(tmp_path: Path) -> Iterator[ChdbMetricsStore]:
    store = ChdbMetricsStore(tmp_path / "metrics")
    yield store
    store.close()


async def test_a_collection_pass_with_prometheus_writes_its_windows_instead_of_scraping(
    seeded_cloud_no_metrics: SeededCloud,
    chdb_store: ChdbMetricsStore,
    http_client: httpx.AsyncClient,
    prometheus: _CannedPrometheus,
) -> None:
    cloud = seeded_cloud_no_metrics
    chat = demo_fleet().deployment("chat-8b").workload
    instances = await cloud.fleet.describe_workload_instances(chat.customer_id, chat.workload_id)
    running = sorted((i for i in instances if i.state == "running"), key=lambda i: i.private_ip or "")
    assert len(running) >= 2 and all(i.private_ip for i in running)
    ips = [i.private_ip or "" for i in running]
    pattern = "(?:" + "|".join(ip.replace(".", "\\.") for ip in ips) + ")(?::[0-9]+)?"
    prometheus.expect(  # the last replica is unknown to Prometheus
        _queries(pattern),
        {
            f"{ip}:8000": _series({**FULL, "running": float(n)}, chat.model_name)
            for n, ip in enumerate(ips[:-1])
        },
    )
    dead = {i.instance_id: "http://127.0.0.1:9/metrics" for i in instances}  # scraping would fail
    collector = MetricsCollector(
        store=AsyncMetricsStore(chdb_store),
        fleet=cloud.fleet,
        resolver=StaticTargets(dead),
        http=http_client,
        catalog=PriceCatalog.load_default(),
        prometheus=_source(prometheus, http_client),
    )
    now = datetime.now(UTC)

    report = await collector.collect(chat, now)

    assert report.window_rows == len(running) - 1
    assert report.primed_replicas == 0
    assert report.failures == [f"{running[-1].instance_id} ({ips[-1]}): no series in Prometheus"]
    assert report.cost_rows == len(running)
    rows = chdb_store.read_window_stats(chat.customer_id, chat.workload_id, now - timedelta(hours=1), now)
    assert sorted((r.replica, r.running) for r in rows) == sorted(
        (i.instance_id, float(n)) for n, i in enumerate(running[:-1])
    )
    assert all(r.window_start == now - WINDOW and r.window_end == now for r in rows)
    assert all(r.model_name == chat.model_name and r.requests == 120.0 and r.counter_reset for r in rows)
    assert all(r.ttft_p50 == FULL["ttft_p50"] and r.prefix_hit_rate == 0.4 for r in rows)

    prometheus.raw = {_queries(pattern)["kv_usage"]: (503, {"status": "error", "errorType": "unavailable"})}
    failed = await collector.collect(chat, now + WINDOW)

    assert failed.window_rows == 0
    assert [f.split(":")[0] for f in failed.failures] == ["prometheus"]
    assert failed.cost_rows == len(running)
    everything = chdb_store.read_window_stats(
        chat.customer_id, chat.workload_id, now - timedelta(hours=1), now + timedelta(hours=1)
    )
    assert everything == rows


async def test_the_worker_reads_prometheus_only_when_a_url_is_set(http_client: httpx.AsyncClient) -> None:
    assert prometheus_source(Settings(_env_file=None, prometheus_url=""), http_client) is None
    settings = Settings(_env_file=None, prometheus_url="http://prometheus:9090", metrics_interval_seconds=30)
    source = prometheus_source(settings, http_client)
    assert source is not None and source.window == timedelta(seconds=30)
    with pytest.raises(ValueError, match="label name"):
        prometheus_source(settings.model_copy(update={"prometheus_instance_label": "a-b"}), http_client)
