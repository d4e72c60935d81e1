"""The Prometheus client speaks the documented query_range API; the PromQL uses current vLLM names and
escapes what callers pass in. The server here is a small stand-in that answers in Prometheus's format."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from optiinfra.metrics.prometheus_api import (
    PrometheusQueryError,
    query_range,
    query_window_stats,
    quote_meta,
    selector,
    window_stat_queries,
)
from optiinfra.metrics.windows import WindowStats
from tests.support.prometheus_standin import QUERY_RANGE_PATH, JsonQueryHandler, PrometheusStandIn, serving

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


class _FakePrometheus(PrometheusStandIn):
    def __init__(self) -> None:
        super().__init__(_Handler)


class _Handler(JsonQueryHandler):
    server: _FakePrometheus

    def do_POST(self) -> None:
        form = self.read_form()
        if self.path != QUERY_RANGE_PATH:
            self.send_json(404, {"status": "error", "errorType": "not_found", "error": "no such path"})
        elif "broken(" in form["query"]:
            self.send_json(
                400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 7"}
            )
        elif "garbled" in form["query"]:
            self.send_json(
                200, {"status": "success", "data": {"resultType": "matrix", "result": [{"values": 3}]}}
            )
        else:
            self.send_json(200, _matrix(float(form["start"]), float(form["end"]), float(form["step"])))


def _matrix(start: float, end: float, step: float) -> dict[str, Any]:
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"instance": f"10.0.0.{n}:8000"}, "values": [[t, str(n * 1.5)] for t in times]}
                for n in (1, 2)
            ]
            + [{"metric": {"instance": "10.0.0.3:8000"}, "values": [[start, "NaN"]]}],
        },
    }


@pytest.fixture
def prometheus() -> Iterator[_FakePrometheus]:
    with serving(_FakePrometheus()) as server:
        yield server


async def test_query_range_sends_the_documented_form_and_reads_the_matrix(
    prometheus: _FakePrometheus, http_client: httpx.AsyncClient
) -> None:
    series = await query_range(
        prometheus.url, "up", START, START + timedelta(minutes=2), timedelta(seconds=30), http_client
    )
    assert prometheus.forms == [
        {
            "query": "up",
            "start": f"{START.timestamp():.3f}",
            "end": f"{START.timestamp() + 120:.3f}",
            "step": "30",
        }
    ]
    assert [s.labels for s in series] == [{"instance": f"10.0.0.{n}:8000"} for n in (1, 2, 3)]
    assert [t for t, _ in series[0].points] == [START + timedelta(seconds=30 * i) for i in range(5)]
    assert {v for _, v in series[1].points} == {3.0}
    assert series[2].points[0][1] != series[2].points[0][1]  # NaN stays NaN, as Prometheus means it


async def test_prometheus_errors_are_reported_with_their_type(
    prometheus: _FakePrometheus, http_client: httpx.AsyncClient
) -> None:
    end = START + timedelta(minutes=1)
    with pytest.raises(PrometheusQueryError, match="bad_data: parse error"):
        await query_range(prometheus.url, "broken(", START, end, timedelta(seconds=15), http_client)
    with pytest.raises(PrometheusQueryError, match="malformed matrix"):
        await query_range(prometheus.url, "garbled", START, end, timedelta(seconds=15), http_client)
    with pytest.raises(PrometheusQueryError, match="not_found"):
        await query_range(prometheus.url + "/prefix", "up", START, end, timedelta(seconds=15), http_client)
    with pytest.raises(ValueError, match="step"):
        await query_range(prometheus.url, "up", START, end, timedelta(0), http_client)


async def test_an_unreachable_prometheus_is_a_query_error(http_client: httpx.AsyncClient) -> None:
    server = _FakePrometheus()
    url = server.url
    server.server_close()
    with pytest.raises(PrometheusQueryError, match="failed"):
        await query_range(url, "up", START, START, timedelta(seconds=15), http_client)


def test_window_stat_queries_cover_the_window_stats_and_use_current_names() -> None:
    queries = window_stat_queries({"job": "vllm", "namespace": "prod"}, timedelta(minutes=5))
    stat_fields = set(WindowStats.model_fields)
    assert set(queries) <= stat_fields
    assert {"request_rate", "ttft_p95", "itl_p95", "e2e_p95", "queue_p95", "kv_usage", "error_rate"} <= set(
        queries
    )
    sel = 'job="vllm",namespace="prod"'
    assert queries["request_rate"] == f"sum by (instance) (rate(vllm:request_success_total{{{sel}}}[300s]))"
    # Quantiles on each bucket's exact change over the window (the whole count for a bucket born in it).
    bucket = f"vllm:time_to_first_token_seconds_bucket{{{sel}}}"
    assert queries["ttft_p95"] == (
        f"histogram_quantile(0.95, sum by (instance, le) ((clamp_min({bucket} - {bucket} offset 300s, 0) "
        f"or {bucket})))"
    )
    assert queries["itl_p50"].startswith(
        "histogram_quantile(0.5, sum by (instance, le) ((clamp_min(vllm:inter_token"
    )
    assert queries["kv_usage"] == f"avg by (instance) (vllm:kv_cache_usage_perc{{{sel}}})"
    assert 'finished_reason="error"' in queries["error_rate"]
    assert "gpu_cache_usage_perc" not in " ".join(queries.values())
    assert "time_per_output_token" not in " ".join(queries.values())


def test_selectors_escape_values_and_refuse_bad_label_names() -> None:
    assert selector("m", {"pod": 'a"} or vector(1) #\\'}) == 'm{pod="a\\"} or vector(1) #\\\\"}'
    assert selector("m", {}) == "m"
    with pytest.raises(ValueError, match="label name"):
        selector("m", {"pod=~": "x"})
    with pytest.raises(ValueError, match="label name"):
        window_stat_queries({}, timedelta(minutes=1), by=["instance) or (up"])
    with pytest.raises(ValueError, match="whole number"):
        window_stat_queries({}, timedelta(seconds=1.5))


def test_regex_matchers_are_escaped_strings_and_literals_are_quoted() -> None:
    pattern = "(?:" + "|".join(quote_meta(v) for v in ("10.0.0.1", "a+b", 'x"y')) + ")(?::[0-9]+)?"
    assert pattern == '(?:10\\.0\\.0\\.1|a\\+b|x"y)(?::[0-9]+)?'
    assert selector("m", {"job": "vllm"}, regex={"instance": pattern}) == (
        'm{instance=~"(?:10\\\\.0\\\\.0\\\\.1|a\\\\+b|x\\"y)(?::[0-9]+)?",job="vllm"}'
    )
    with pytest.raises(ValueError, match="label name"):
        selector("m", {}, regex={"a b": "x"})


def test_window_stat_queries_give_counts_resets_and_the_model_name() -> None:
    queries = window_stat_queries(
        {"job": "vllm"}, timedelta(minutes=1), by=["pod"], regex_matchers={"pod": "vllm-.*"}
    )
    sel = 'job="vllm",pod=~"vllm-.*"'
    assert queries["aborts"] == (
        f'sum by (pod) (increase(vllm:request_success_total{{finished_reason="abort",{sel}}}[60s]))'
    )
    assert (
        queries["prefix_queries"] == f"sum by (pod) (increase(vllm:prefix_cache_queries_total{{{sel}}}[60s]))"
    )
    assert queries["counter_reset"] == f"sum by (pod) (resets(vllm:request_success_total{{{sel}}}[60s]))"
    assert queries["model_name"] == f"group by (pod, model_name) (vllm:num_requests_running{{{sel}}})"
    assert all(f"{{{sel}" in q or f",{sel}" in q for q in queries.values())
    by_model = window_stat_queries({}, timedelta(minutes=1), by=["instance", "model_name"])
    assert by_model["model_name"] == "group by (instance, model_name) (vllm:num_requests_running)"


async def test_query_window_stats_asks_for_every_field(
    prometheus: _FakePrometheus, http_client: httpx.AsyncClient
) -> None:
    results = await query_window_stats(
        prometheus.url,
        {"job": "vllm"},
        START,
        START + timedelta(minutes=1),
        timedelta(seconds=30),
        http_client,
    )
    assert set(results) == set(window_stat_queries({"job": "vllm"}, timedelta(seconds=30)))
    assert len(prometheus.forms) == len(results)
    assert all(len(series) == 3 for series in results.values())
