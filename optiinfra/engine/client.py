"""One way to reach Temporal, for the worker, the API and the CLI alike."""

from opentelemetry.trace import TracerProvider
from temporalio.client import Client, TLSConfig
from temporalio.runtime import Runtime

from optiinfra.engine.codec import DATA_CONVERTER
from optiinfra.observability.tracing import tracing_interceptor
from optiinfra.settings import Settings


def _tls_config(settings: Settings) -> TLSConfig | bool:
    paths = (settings.temporal_tls_cert_path, settings.temporal_tls_key_path, settings.temporal_tls_ca_path)
    if not any(paths):
        # Temporal Cloud with an API key needs TLS even without client certificates.
        return settings.temporal_api_key is not None
    cert, key, ca = (p.read_bytes() if p else None for p in paths)
    return TLSConfig(client_cert=cert, client_private_key=key, server_root_ca_cert=ca)


async def connect_temporal(
    settings: Settings,
    address: str | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """Connect with the project's data converter (pydantic JSON, large payloads compressed:
    `optiinfra.engine.codec`); `address` overrides the settings (the
    embedded engine knows its own). Calls through the client, and workers built from it, are traced
    (`optiinfra.observability.tracing`) on `tracer_provider`, by default the process's global one.
    `runtime`: the Temporal Runtime the client and its workers run on (`metrics_runtime` serves their
    Prometheus metrics); by default the SDK's, which serves none."""
    target = address or settings.temporal_address
    if not target:
        raise ValueError("no Temporal address: set TEMPORAL_ADDRESS or start the embedded engine")
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        target,
        namespace=settings.temporal_namespace,
        tls=_tls_config(settings),
        api_key=api_key,
        data_converter=DATA_CONVERTER,
        interceptors=[tracing_interceptor(tracer_provider)],
        runtime=runtime,
    )
