"""One tracer provider per process, exporting by OTLP/HTTP when an endpoint is configured.

An API request, the workflow it starts, that workflow's activities and child workflows, and the updates,
signals and queries sent to it later are spans of one trace: `connect_temporal` puts Temporal's
`TracingInterceptor` on every client, a worker built from a client inherits its interceptors, and the
interceptor carries the span context in Temporal headers from the client to the workflow and from the
workflow to its activities and children. Without an endpoint no provider is installed: the interceptor
then works on OpenTelemetry's no-op tracer (nothing recorded, no header sent)."""

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from optiinfra.settings import Settings

API_SERVICE = "optiinfra-api"
WORKER_SERVICE = "optiinfra-worker"
STACK_SERVICE = "optiinfra-stack"
"""`optiinfra up` / `run`: the worker and the API in one process."""

TRACER_NAME = "optiinfra"
TRACES_PATH = "/v1/traces"

_configured: TracerProvider | None = None


def otlp_traces_endpoint(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """Where spans go: the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL) or
    OTEL_EXPORTER_OTLP_ENDPOINT (a base URL) first, then OPTIINFRA_OTLP_ENDPOINT (a base URL);
    None when tracing is off (none set, or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if traces := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or settings.otlp_endpoint.strip()
    return base.rstrip("/") + TRACES_PATH if base else None


def build_tracer_provider(service_name: str, environ: Mapping[str, str] | None = None) -> TracerProvider:
    """A provider whose resource names the service: OTEL_SERVICE_NAME or `service.name` in
    OTEL_RESOURCE_ATTRIBUTES wins over the process kind's default, as the specification has it."""
    env = os.environ if environ is None else environ
    named = env.get("OTEL_SERVICE_NAME") or SERVICE_NAME + "=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {SERVICE_NAME: service_name})
    return TracerProvider(resource=resource)


def configure_tracing(settings: Settings, service_name: str) -> TracerProvider | None:
    """Install the global tracer provider with an OTLP/HTTP exporter when an endpoint is configured;
    once per process (a second call returns the first provider). None when tracing is off."""
    global _configured
    if _configured is not None:
        return _configured
    endpoint = otlp_traces_endpoint(settings)
    if endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = build_tracer_provider(service_name)
    # The exporter reads the standard OTEL_EXPORTER_OTLP_* headers, timeout, compression and certificates.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)  # flushed and shut down at exit
    _configured = provider
    return provider


def tracing_interceptor(tracer_provider: trace.TracerProvider | None = None) -> TracingInterceptor:
    """Temporal's interceptor on the given provider's tracer, or on the global one (resolved when a span
    starts, so a provider installed after the client connected is still used)."""
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    return TracingInterceptor(tracer)
