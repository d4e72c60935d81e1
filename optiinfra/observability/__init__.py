"""Traces (OpenTelemetry, through Temporal's tracing interceptor and the API's ASGI instrumentation) and
structured logs, set up once per process by the CLI command that runs it."""
