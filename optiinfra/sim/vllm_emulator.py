"""A stand-in for the `/metrics` endpoint of vLLM replicas, for the digital twin and the tests.

`ReplicaMetricsState` holds what one vLLM API server exposes: the scheduler gauges, the cumulative
counters and the latency histograms, with vLLM's own names, labels and bucket boundaries (see
`optiinfra.metrics.vllm_names`). The twin records finished requests into it; `render()` writes the
Prometheus text format through prometheus_client, so scrapers read exactly what they would read from
vLLM. `VllmEmulatorServer` serves many replicas over real HTTP on loopback, one port per replica,
because real scrapers address a replica as host:port/metrics.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from optiinfra.metrics import vllm_names as names
from optiinfra.metrics.scrape import HistogramSnapshot, VllmSample
from optiinfra.metrics.vllm_names import FinishReason

_HELP = {
    names.NUM_REQUESTS_RUNNING: "Number of requests in model execution batches.",
    names.NUM_REQUESTS_WAITING: "Number of requests waiting to be processed.",
    names.KV_CACHE_USAGE_PERC: "KV-cache usage. 1 means 100 percent usage.",
    names.NUM_PREEMPTIONS: "Cumulative number of preemption from the engine.",
    names.PROMPT_TOKENS: "Number of prefill tokens processed.",
    names.GENERATION_TOKENS: "Number of generation tokens processed.",
    names.PREFIX_CACHE_QUERIES: "Prefix cache queries, in terms of number of queried tokens.",
    names.PREFIX_CACHE_HITS: "Prefix cache hits, in terms of number of cached tokens.",
    names.REQUEST_SUCCESS: "Count of successfully processed requests.",
    names.TIME_TO_FIRST_TOKEN: "Histogram of time to first token in seconds.",
    names.INTER_TOKEN_LATENCY: "Histogram of inter-token latency in seconds.",
    names.E2E_REQUEST_LATENCY: "Histogram of e2e request latency in seconds.",
    names.REQUEST_QUEUE_TIME: "Histogram of time spent in WAITING phase for request.",
    names.REQUEST_PROMPT_TOKENS: "Number of prefill tokens processed.",
    names.REQUEST_GENERATION_TOKENS: "Number of generation tokens processed.",
}
_GAUGES = (names.NUM_REQUESTS_RUNNING, names.NUM_REQUESTS_WAITING, names.KV_CACHE_USAGE_PERC)
_COUNTERS = (
    names.NUM_PREEMPTIONS,
    names.PROMPT_TOKENS,
    names.GENERATION_TOKENS,
    names.PREFIX_CACHE_QUERIES,
    names.PREFIX_CACHE_HITS,
)


# vLLM 0.32's breakdowns of the figures above, served for parity (the scraper reads the totals): prompt
# tokens by where their KV came from, cached tokens by the tier that held them, waiting requests by why.
_SOURCE = "source"
_REASON = "reason"
_PROMPT_SOURCES = ("local_compute", "local_cache_hit", "external_kv_transfer")
_CACHE_TIERS = ("device", "host", "p2p", "disk", "external_unspecified")
_WAITING_REASONS = ("capacity", "deferred")
_BREAKDOWN_HELP = {
    "vllm:prompt_tokens_by_source": "Number of prompt tokens by source.",
    "vllm:prompt_tokens_cached": "Number of cached prompt tokens (local + external).",
    "vllm:prompt_tokens_cached_by_source": "Prefix-cache hit tokens by the cache tier that supplied them.",
    "vllm:external_prefix_cache_queries": "External prefix cache queries from KV connector cross-instance "
    "cache sharing, in terms of number of queried tokens.",
    "vllm:external_prefix_cache_hits": "External prefix cache hits from KV connector cross-instance cache "
    "sharing, in terms of number of cached tokens.",
    "vllm:num_requests_waiting_by_reason": "Number of waiting requests by reason.",
}


# vLLM 0.32's `cache_config_info` labels with the values it reports for a plain attention model; the KV
# cache's geometry is set per replica (`ReplicaMetricsState.set_cache_config`).
_CACHE_CONFIG_DEFAULTS: Mapping[str, str] = {
    "_block_size_resolved": "True",
    "block_size": "16",
    "cache_dtype": "auto",
    "cache_hit_alignment_tokens": "None",
    "effective_attention_block_size": "16",
    "enable_mamba_shared_prefix_checkpoint": "False",
    "enable_prefix_caching": "True",
    "gpu_memory_utilization": "0.9",
    "hash_block_size": "None",
    "is_attention_free": "False",
    "kv_cache_dtype_skip_layers": "[]",
    "kv_cache_layout": "None",
    "kv_cache_max_concurrency": "None",
    "kv_cache_memory_bytes": "None",
    "kv_cache_size_tokens": "None",
    "kv_offloading_backend": "native",
    "kv_offloading_size": "None",
    "kv_sharing_fast_prefill": "False",
    "mamba_block_size": "None",
    "mamba_cache_dtype": "auto",
    "mamba_cache_mode": "none",
    "mamba_page_size_padded": "None",
    "mamba_ssm_cache_dtype": "float32",
    "num_cpu_blocks": "None",
    "num_gpu_blocks": "None",
    "num_gpu_blocks_override": "None",
    "prefix_cache_retention_interval": "0",
    "prefix_caching_hash_algo": "sha256",
    "prefix_match_unit": "None",
    "replayssm_buffer_len": "16",
    "skip_page_size_padded": "None",
    "sliding_window": "None",
    "swa_bounded_replay": "True",
    "use_kda_recoverssm": "False",
    "use_replayssm": "False",
    "user_specified_block_size": "False",
}


# How prometheus_client writes an `le` label ("0.001", "1.0", "+Inf"); the library leaves it untyped.
_go_float = cast(Callable[[float], str], floatToGoString)


@dataclass
class HistogramState:
    """A Prometheus histogram: per-bucket counts (the last is +Inf), the sum and the count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError("histogram bounds must be strictly increasing")
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, value: float, times: int = 1) -> None:
        """`le` buckets are inclusive: a value equal to a bound lands in that bound's bucket."""
        _check_observable(value)
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += value * times

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append((_go_float(bound), float(running)))
        return buckets

    def copy(self) -> HistogramState:
        return HistogramState(self.bounds, list(self.counts), self.total)


def _check_observable(value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"an observed latency or size must be finite and >= 0, got {value}")


@dataclass(frozen=True)
class ReplicaSnapshot:
    """A consistent copy of a replica's metrics, taken under its lock."""

    model_name: str
    engine: str
    started_at: float
    gauges: Mapping[str, float]
    counters: Mapping[str, float]
    finished_by_reason: Mapping[FinishReason, int]
    histograms: Mapping[str, HistogramState]
    cache_config: Mapping[str, str] | None = None


class ReplicaMetricsState:
    """The metrics one vLLM replica exposes, updated by the twin and read by the HTTP server."""

    def __init__(
        self,
        model_name: str,
        *,
        engine: str = "0",
        max_model_len: int = 8192,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model_name = model_name
        self.engine = engine
        self._max_model_len = max_model_len
        self._cache_config: dict[str, str] | None = None
        self._token_buckets = names.build_1_2_5_buckets(max_model_len)
        self._clock = clock
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._started_at = self._clock()
        self._gauges = dict.fromkeys(_GAUGES, 0.0)
        self._counters = dict.fromkeys(_COUNTERS, 0.0)
        self._finished: dict[FinishReason, int] = dict.fromkeys(names.FINISH_REASONS, 0)
        self._histograms = {
            names.TIME_TO_FIRST_TOKEN: HistogramState(names.TTFT_BUCKETS),
            names.INTER_TOKEN_LATENCY: HistogramState(names.ITL_BUCKETS),
            names.E2E_REQUEST_LATENCY: HistogramState(names.REQUEST_LATENCY_BUCKETS),
            names.REQUEST_QUEUE_TIME: HistogramState(names.REQUEST_LATENCY_BUCKETS),
            names.REQUEST_PROMPT_TOKENS: HistogramState(self._token_buckets),
            names.REQUEST_GENERATION_TOKENS: HistogramState(self._token_buckets),
        }

    def restart(self) -> None:
        """What a process restart does to a replica's metrics: every counter starts again from zero."""
        with self._lock:
            self._reset()

    def set_gauges(
        self, *, running: int | None = None, waiting: int | None = None, kv_cache_usage: float | None = None
    ) -> None:
        """Scheduler state; `kv_cache_usage` is a fraction (1.0 = every KV block in use), as vLLM reports."""
        if kv_cache_usage is not None and not 0.0 <= kv_cache_usage <= 1.0:
            raise ValueError("kv_cache_usage is a fraction between 0 and 1")
        if (running is not None and running < 0) or (waiting is not None and waiting < 0):
            raise ValueError("request counts cannot be negative")
        with self._lock:
            if running is not None:
                self._gauges[names.NUM_REQUESTS_RUNNING] = float(running)
            if waiting is not None:
                self._gauges[names.NUM_REQUESTS_WAITING] = float(waiting)
            if kv_cache_usage is not None:
                self._gauges[names.KV_CACHE_USAGE_PERC] = kv_cache_usage

    def set_cache_config(
        self, *, block_size: int, num_gpu_blocks: int, gpu_memory_utilization: float = 0.9
    ) -> None:
        """The KV cache the engine sized at start, served as `vllm:cache_config_info` (none until set)."""
        if block_size <= 0 or num_gpu_blocks < 0:
            raise ValueError("block_size must be positive and num_gpu_blocks not negative")
        tokens = block_size * num_gpu_blocks
        config = dict(_CACHE_CONFIG_DEFAULTS) | {
            "block_size": str(block_size),
            "effective_attention_block_size": str(block_size),
            "num_gpu_blocks": str(num_gpu_blocks),
            "kv_cache_size_tokens": str(tokens),
            "kv_cache_max_concurrency": str(round(tokens / self._max_model_len, 2)),
            "gpu_memory_utilization": str(gpu_memory_utilization),
        }
        with self._lock:
            self._cache_config = config

    def record_preemptions(self, count: int = 1) -> None:
        if count < 0:
            raise ValueError("count cannot be negative")
        with self._lock:
            self._counters[names.NUM_PREEMPTIONS] += count

    def add_counts(
        self,
        *,
        requests: int,
        prompt_tokens: float,
        generation_tokens: float,
        prefix_queries: float,
        prefix_hits: float,
        finished_reason: FinishReason = "stop",
    ) -> None:
        """Requests counted without histogram observations: a twin that samples latencies for a few
        requests per window still exposes the window's full counts, atomically for scrapers."""
        if min(requests, prompt_tokens, generation_tokens, prefix_queries, prefix_hits) < 0:
            raise ValueError("counts cannot be negative")
        if prefix_hits > prefix_queries:
            raise ValueError("prefix hits cannot exceed prefix queries")
        with self._lock:
            self._counters[names.PROMPT_TOKENS] += prompt_tokens
            self._counters[names.GENERATION_TOKENS] += generation_tokens
            self._counters[names.PREFIX_CACHE_QUERIES] += prefix_queries
            self._counters[names.PREFIX_CACHE_HITS] += prefix_hits
            self._finished[finished_reason] += requests

    def observe_request(
        self,
        *,
        queue_s: float,
        ttft_s: float,
        e2e_s: float,
        prompt_tokens: int,
        output_tokens: int,
        itl_s: Sequence[float] | float | None = None,
        itl_count: int | None = None,
        itl_runs: Sequence[tuple[float, int]] | None = None,
        prefix_queries: int = 0,
        prefix_hits: int = 0,
        finished_reason: FinishReason = "stop",
    ) -> None:
        """Record one finished request as vLLM does when the request leaves the engine.

        `itl_s` is either every inter-token gap, or their mean observed `itl_count` times (default one per
        output token after the first); `itl_runs` gives them as (gap, times) runs instead. Without either the
        mean gap is derived from e2e and TTFT."""
        if min(prompt_tokens, output_tokens, prefix_queries, prefix_hits) < 0:
            raise ValueError("token counts cannot be negative")
        if prefix_hits > prefix_queries:
            raise ValueError("prefix_hits cannot exceed prefix_queries")
        if finished_reason not in names.FINISH_REASONS:
            raise ValueError(f"unknown finished_reason {finished_reason!r}")
        if itl_runs is not None and (itl_s is not None or itl_count is not None):
            raise ValueError("give the inter-token gaps either as itl_s (and itl_count) or as itl_runs")
        if itl_runs is not None and any(times < 0 for _, times in itl_runs):
            raise ValueError("a run of inter-token gaps cannot be observed a negative number of times")
        gaps = (
            [(gap, times) for gap, times in itl_runs if times > 0]
            if itl_runs is not None
            else _inter_token_gaps(itl_s, itl_count, ttft_s, e2e_s, output_tokens)
        )
        for latency in (queue_s, ttft_s, e2e_s, *(gap for gap, _ in gaps)):
            _check_observable(latency)
        with self._lock:
            self._histograms[names.REQUEST_QUEUE_TIME].observe(queue_s)
            self._histograms[names.TIME_TO_FIRST_TOKEN].observe(ttft_s)
            self._histograms[names.E2E_REQUEST_LATENCY].observe(e2e_s)
            for gap, times in gaps:
                self._histograms[names.INTER_TOKEN_LATENCY].observe(gap, times)
            self._histograms[names.REQUEST_PROMPT_TOKENS].observe(prompt_tokens)
            self._histograms[names.REQUEST_GENERATION_TOKENS].observe(output_tokens)
            self._counters[names.PROMPT_TOKENS] += prompt_tokens
            self._counters[names.GENERATION_TOKENS] += output_tokens
            self._counters[names.PREFIX_CACHE_QUERIES] += prefix_queries
            self._counters[names.PREFIX_CACHE_HITS] += prefix_hits
            self._finished[finished_reason] += 1

    def gauges(self) -> dict[str, float]:
        """The gauges alone (running, waiting, KV usage), without copying the histograms."""
        with self._lock:
            return dict(self._gauges)

    def snapshot(self) -> ReplicaSnapshot:
        with self._lock:
            return ReplicaSnapshot(
                model_name=self.model_name,
                engine=self.engine,
                started_at=self._started_at,
                gauges=dict(self._gauges),
                counters=dict(self._counters),
                finished_by_reason=dict(self._finished),
                histograms={name: hist.copy() for name, hist in self._histograms.items()},
                cache_config=dict(self._cache_config) if self._cache_config is not None else None,
            )

    def sample(self, *, replica: str, at: datetime) -> VllmSample:
        """What parsing `render()` gives, built straight from the state: for a simulation that scrapes
        thousands of windows (the twin's history), where rendering and parsing the text is most of the time.
        A test holds it equal to the parsed page."""
        snap = self.snapshot()
        counters = {name: float(value) for name, value in snap.counters.items()}
        finished = {str(reason): float(count) for reason, count in snap.finished_by_reason.items()}
        if finished:
            counters[names.REQUEST_SUCCESS] = sum(finished.values())
        histograms: dict[str, HistogramSnapshot] = {}
        for name, hist in snap.histograms.items():
            cumulative = tuple(itertools.accumulate(float(count) for count in hist.counts))
            histograms[name] = HistogramSnapshot(bounds=hist.bounds, cumulative=cumulative, sum=hist.total)
        return VllmSample(
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            replica=replica,
            model_name=snap.model_name,
            started_at=snap.started_at,
            counters=counters,
            finished_by_reason=finished,
            gauges={name: float(value) for name, value in snap.gauges.items()},
            histograms=histograms,
            kv_cache_tokens=int(snap.cache_config["kv_cache_size_tokens"]) if snap.cache_config else None,
        )

    def render(self, *, legacy_names: bool = False) -> bytes:
        """The `/metrics` body. `legacy_names` writes the pre-rename names and the v0 label set."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SnapshotCollector(self.snapshot(), legacy_names))
        return generate_latest(registry)


def _inter_token_gaps(
    itl_s: Sequence[float] | float | None,
    itl_count: int | None,
    ttft_s: float,
    e2e_s: float,
    output_tokens: int,
) -> list[tuple[float, int]]:
    if isinstance(itl_s, Sequence):
        return [(gap, 1) for gap in itl_s]
    count = max(output_tokens - 1, 0) if itl_count is None else itl_count
    if count <= 0:
        return []
    mean = itl_s if itl_s is not None else max(e2e_s - ttft_s, 0.0) / count
    return [(mean, count)]


class _SnapshotCollector(Collector):
    """Builds the metric families of one snapshot, with current or legacy names."""

    def __init__(self, snapshot: ReplicaSnapshot, legacy_names: bool) -> None:
        self._snapshot = snapshot
        self._legacy = legacy_names

    def _name(self, name: str) -> str:
        return names.CURRENT_TO_LEGACY.get(name, name) if self._legacy else name

    def _labels(self) -> tuple[list[str], list[str]]:
        if self._legacy:
            return [names.LABEL_MODEL_NAME], [self._snapshot.model_name]
        return [names.LABEL_MODEL_NAME, names.LABEL_ENGINE], [
            self._snapshot.model_name,
            self._snapshot.engine,
        ]

    def collect(self) -> Iterable[Metric]:
        label_names, label_values = self._labels()
        snap = self._snapshot
        for name, value in snap.gauges.items():
            gauge = GaugeMetricFamily(self._name(name), _HELP[name], labels=label_names)
            gauge.add_metric(label_values, value)
            yield gauge
        if self._legacy:
            swapped = GaugeMetricFamily(
                names.LEGACY_NUM_REQUESTS_SWAPPED, "Swapped requests.", labels=label_names
            )
            swapped.add_metric(label_values, 0.0)
            yield swapped
        for name, value in snap.counters.items():
            counter = CounterMetricFamily(self._name(name), _HELP[name], labels=label_names)
            counter.add_metric(label_values, value, created=snap.started_at)
            yield counter
        success = CounterMetricFamily(
            names.REQUEST_SUCCESS,
            _HELP[names.REQUEST_SUCCESS],
            labels=[*label_names, names.LABEL_FINISHED_REASON],
        )
        for reason, count in snap.finished_by_reason.items():
            success.add_metric([*label_values, reason], float(count), created=snap.started_at)
        yield success
        if not self._legacy:
            yield from self._breakdowns(label_names, label_values)
            if snap.cache_config is not None:
                # vLLM labels it with the engine and its settings, not the model.
                keys = sorted(snap.cache_config)
                info = GaugeMetricFamily(
                    names.CACHE_CONFIG_INFO,
                    "Information of the LLMEngine CacheConfig",
                    labels=[names.LABEL_ENGINE, *keys],
                )
                info.add_metric([snap.engine, *(snap.cache_config[key] for key in keys)], 1.0)
                yield info
        created = snap.started_at
        for name, hist in snap.histograms.items():
            family = HistogramMetricFamily(self._name(name), _HELP[name], labels=label_names)
            family.add_metric(label_values, hist.cumulative_buckets(), sum_value=hist.total)
            # vLLM's histograms carry their creation time too (prometheus_client writes it as a
            # `<name>_created` gauge family); the family API takes it for counters only.
            family.samples.append(
                Sample(f"{family.name}_created", dict(zip(label_names, label_values, strict=True)), created)
            )
            yield family

    def _breakdowns(self, label_names: list[str], label_values: list[str]) -> Iterable[Metric]:
        """The local prefix cache is the only tier and source the twin has: its hits are the cached tokens,
        the rest of the prompt is computed, and every waiting request waits for capacity."""
        snap = self._snapshot
        hits = snap.counters.get(names.PREFIX_CACHE_HITS, 0.0)
        prompt = snap.counters.get(names.PROMPT_TOKENS, 0.0)

        def counter(name: str, values: Mapping[str, float], label: str | None = None) -> Metric:
            family = CounterMetricFamily(
                name, _BREAKDOWN_HELP[name], labels=[*label_names, *([label] if label else [])]
            )
            for key, value in values.items():
                extra = [key] if label else []
                family.add_metric([*label_values, *extra], value, created=snap.started_at)
            return family

        yield counter(
            "vllm:prompt_tokens_by_source",
            dict(zip(_PROMPT_SOURCES, (max(prompt - hits, 0.0), hits, 0.0), strict=True)),
            _SOURCE,
        )
        yield counter("vllm:prompt_tokens_cached", {"": hits})
        yield counter(
            "vllm:prompt_tokens_cached_by_source",
            {tier: hits if tier == "device" else 0.0 for tier in _CACHE_TIERS},
            _SOURCE,
        )
        yield counter("vllm:external_prefix_cache_queries", {"": 0.0})
        yield counter("vllm:external_prefix_cache_hits", {"": 0.0})
        waiting = GaugeMetricFamily(
            "vllm:num_requests_waiting_by_reason",
            _BREAKDOWN_HELP["vllm:num_requests_waiting_by_reason"],
            labels=[*label_names, _REASON],
        )
        for reason in _WAITING_REASONS:
            queued = snap.gauges.get(names.NUM_REQUESTS_WAITING, 0.0) if reason == "capacity" else 0.0
            waiting.add_metric([*label_values, reason], queued)
        yield waiting


@dataclass
class _Endpoint:
    state: ReplicaMetricsState
    legacy_names: bool
    healthy: bool = True


class _ReplicaHTTPServer(ThreadingHTTPServer):
    """Remembers its open connections so that stopping a replica also drops kept-alive scrapers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], endpoint: _Endpoint) -> None:
        super().__init__(address, _ReplicaHandler)
        self.endpoint = endpoint
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _ReplicaHandler(BaseHTTPRequestHandler):
    server: _ReplicaHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        endpoint = self.server.endpoint
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(HTTPStatus.OK, endpoint.state.render(legacy_names=endpoint.legacy_names))
        elif path == "/health":
            self._reply(HTTPStatus.OK if endpoint.healthy else HTTPStatus.SERVICE_UNAVAILABLE, b"")
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n")

    def _reply(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: a fleet of replicas scraped every few seconds would flood stderr."""


@dataclass
class _Running:
    server: _ReplicaHTTPServer
    thread: threading.Thread
    url: str


class VllmEmulatorServer:
    """Serves `/metrics` and `/health` for many replicas, each on its own loopback port.

    Ports are chosen by the OS at bind time (port 0), so parallel tests never collide."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._replicas: dict[str, _Running] = {}
        self._served_states: dict[str, ReplicaMetricsState] = {}
        """What `serve_exactly` last served, by replica."""

    def add_replica(self, replica_id: str, state: ReplicaMetricsState, *, legacy_names: bool = False) -> str:
        """Start serving a replica; returns its base URL (scrape `{url}/metrics`)."""
        with self._lock:
            if replica_id in self._replicas:
                raise ValueError(f"replica {replica_id!r} is already served")
            server = _ReplicaHTTPServer((self._host, 0), _Endpoint(state, legacy_names))
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"vllm-emulator-{replica_id}",
            )
            thread.daemon = True
            thread.start()
            host, port = server.server_address[:2]
            url = f"http://{host!s}:{port}"
            self._replicas[replica_id] = _Running(server, thread, url)
            return url

    def url(self, replica_id: str) -> str:
        return self._replicas[replica_id].url

    def metrics_url(self, replica_id: str) -> str:
        return f"{self.url(replica_id)}/metrics"

    @property
    def urls(self) -> dict[str, str]:
        with self._lock:
            return {replica_id: running.url for replica_id, running in self._replicas.items()}

    def set_healthy(self, replica_id: str, healthy: bool) -> None:
        self._replicas[replica_id].server.endpoint.healthy = healthy

    def serve_exactly(self, states: Mapping[str, ReplicaMetricsState]) -> None:
        """Serve these replicas and no others: a replica whose state object changed (it restarted) gets a
        new endpoint; missing ones stop."""
        served = self._served_states
        for replica_id in list(served):
            if states.get(replica_id) is not served[replica_id]:
                with contextlib.suppress(KeyError):
                    self.remove_replica(replica_id)
                del served[replica_id]
        for replica_id, state in states.items():
            if replica_id not in served:
                self.add_replica(replica_id, state)
                served[replica_id] = state

    def remove_replica(self, replica_id: str) -> None:
        """Stop serving one replica (scale-in, or a crash the twin wants scrapers to see)."""
        with self._lock:
            running = self._replicas.pop(replica_id)
        _shut_down(running)

    def stop(self) -> None:
        """Idempotent: stops every replica's server and waits for its thread."""
        with self._lock:
            running, self._replicas = list(self._replicas.values()), {}
        for item in running:
            _shut_down(item)

    def __enter__(self) -> VllmEmulatorServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _shut_down(running: _Running) -> None:
    running.server.shutdown()
    running.server.server_close()
    running.server.drop_connections()
    running.thread.join(timeout=5)
