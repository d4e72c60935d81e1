"""The FastAPI application. One Temporal client and one session factory live for the app's lifetime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route
from temporalio.client import Client

from api.deps import authenticate
from api.docs import install_docs
from api.errors import ERROR_RESPONSES, UNAVAILABLE, install_error_handlers
from api.mcp_server import MCP_PATH, McpEndpoint
from api.portal import PortalRoute
from api.prometheus import ApiMetrics, RequestMetricsMiddleware
from api.routes import (
    access,
    audit,
    capacity_profiles,
    codec,
    conflicts,
    customers,
    health,
    joint,
    optimizations,
    privacy,
    recommendations,
    reports,
    schedules,
    session,
    sign_in,
    workloads,
)
from optiinfra.access.oidc import OidcVerifier
from optiinfra.engine.client import connect_temporal
from optiinfra.metrics.reporting import ReportingMetrics, open_reporting_metrics
from optiinfra.settings import Settings
from optiinfra.store.database import create_engine_for, session_factory


def origin_of(url: str | None) -> str | None:
    """scheme://host[:port] of a URL; None for none or one without a host."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    metrics: ReportingMetrics | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The app; pass `client`, `sessions` and `metrics` to share ones the caller already holds (tests,
    `up`). Without `metrics`, the app opens the metrics store itself only when it is a ClickHouse server
    (OPTIINFRA_CLICKHOUSE_URL): embedded chdb is one engine per process, held by whoever runs the worker,
    so the reports then say that their measured figures are missing.
    OPTIINFRA_API_TOKEN, when set, is a platform-admin credential beside the API keys and OIDC tokens.
    The same operations are MCP tools at /mcp (streamable HTTP), for the same credentials; the web console
    (`settings.portal_dir`) is served at every other GET path, and Swagger UI at /docs from its files.
    /metrics answers the API's request counts and latencies in Prometheus text (`api.prometheus`).
    Every request is a server span (on `tracer_provider`, by default the process's global one), the parent
    of the Temporal calls it makes; OTEL_PYTHON_FASTAPI_EXCLUDED_URLS names paths left untraced."""
    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        app.state.settings = settings
        app.state.oidc = OidcVerifier()
        app.state.temporal = client or await connect_temporal(settings, tracer_provider=tracer_provider)
        if sessions is None:
            engine = create_engine_for(settings.effective_database_url)
            app.state.sessions = session_factory(engine)
        else:
            app.state.sessions = sessions
        opened = open_reporting_metrics(settings) if metrics is None and settings.clickhouse_url else None
        app.state.metrics = metrics or opened
        try:
            async with mcp.running():
                yield
        finally:
            if api_metrics.fleet is not None:
                await api_metrics.fleet.aclose()
            if engine is not None:
                await engine.dispose()
            if opened is not None:
                opened.close()

    app = FastAPI(
        title="OptiInfra",
        summary="Control plane of the OptiInfra agents: optimizations, recommendations, approvals.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app, settings)
    app.include_router(health.router)
    app.include_router(sign_in.router, prefix="/v1", responses=UNAVAILABLE)  # asked before signing in
    for router in (
        access.router,
        audit.router,
        capacity_profiles.router,
        codec.router,
        conflicts.router,
        customers.router,
        joint.router,
        optimizations.router,
        privacy.router,
        recommendations.router,
        reports.router,
        schedules.router,
        session.router,
        workloads.router,
    ):
        app.include_router(
            router, prefix="/v1", dependencies=[Depends(authenticate)], responses=ERROR_RESPONSES
        )
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp, include_in_schema=False))
    api_metrics = ApiMetrics(
        fleet_refresh_seconds=settings.fleet_metrics_refresh_seconds,
        window_seconds=settings.metrics_interval_seconds,
    )
    app.router.routes.append(api_metrics.route())  # /metrics: no credential, not in the OpenAPI document
    app.add_middleware(RequestMetricsMiddleware, metrics=api_metrics, routes=lambda: app.routes)
    ui_origin = origin_of(settings.temporal_ui_url)
    if ui_origin is not None:
        # The Temporal UI decodes payloads through /v1/codec from the browser: its origin may call.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[ui_origin],
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type", "x-namespace"],
        )
    app.router.routes.append(PortalRoute(str(settings.portal_dir)))  # last: it takes every other GET
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, exclude_spans=["receive", "send"]
    )
    return app
