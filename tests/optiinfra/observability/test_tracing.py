"""Where spans go, and the service they name: the standard OTEL_* variables first, OPTIINFRA_OTLP_ENDPOINT
next, nothing (no provider, no exporter) otherwise; and a real export by OTLP/HTTP from a process."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from optiinfra.observability.tracing import (
    WORKER_SERVICE,
    build_tracer_provider,
    configure_tracing,
    otlp_traces_endpoint,
)
from optiinfra.settings import Settings


def test_no_endpoint_means_no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OPTIINFRA_OTLP_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert otlp_traces_endpoint(Settings(), {}) is None
    assert configure_tracing(Settings(), WORKER_SERVICE) is None


def test_the_standard_variables_come_first() -> None:
    ours = Settings(otlp_endpoint="http://ours:4318/")
    assert otlp_traces_endpoint(ours, {}) == "http://ours:4318/v1/traces"
    assert otlp_traces_endpoint(ours, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://std:4318"}) == (
        "http://std:4318/v1/traces"
    )
    full = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    assert otlp_traces_endpoint(ours, full) == "http://t:4318/custom"
    assert otlp_traces_endpoint(ours, {"OTEL_SDK_DISABLED": "true"}) is None
    assert otlp_traces_endpoint(ours, {"OTEL_TRACES_EXPORTER": "none"}) is None


def test_the_service_is_named_by_the_process_kind_unless_the_environment_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert build_tracer_provider(WORKER_SERVICE).resource.attributes["service.name"] == WORKER_SERVICE
    monkeypatch.setenv("OTEL_SERVICE_NAME", "opti-eu")
    assert build_tracer_provider(WORKER_SERVICE).resource.attributes["service.name"] == "opti-eu"


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    server.shutdown()
    server.server_close()


def test_a_process_exports_its_spans_by_otlp_http(collector: tuple[str, list[tuple[str, bytes]]]) -> None:
    """In a process of its own (the provider is global, set once): OPTIINFRA_OTLP_ENDPOINT set, a span
    made through the Temporal interceptor's tracer reaches the collector at exit, naming the service."""
    url, received = collector
    script = (
        "from optiinfra.observability.tracing import configure_tracing, tracing_interceptor, WORKER_SERVICE\n"
        "from optiinfra.settings import Settings\n"
        "assert configure_tracing(Settings(), WORKER_SERVICE) is not None\n"
        "with tracing_interceptor().tracer.start_as_current_span('probe-span'):\n"
        "    pass\n"
    )
    env = {"OPTIINFRA_OTLP_ENDPOINT": url, "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)

    assert [path for path, _ in received] == ["/v1/traces"]
    body = received[0][1]
    assert b"probe-span" in body and WORKER_SERVICE.encode() in body
