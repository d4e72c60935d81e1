"""The API's own metrics at /metrics, in Prometheus text, without a credential (as scrapers expect; it
holds request counts and latencies, and the fleet's figures by customer and workload id, no customer
data beyond ids): every request counted and timed by method, route and status; the fleet's spend, SLO
attainment, last changes and approval queues (`api.fleet_metrics`).

`route` is the route's template (/v1/recommendations/{recommendation_id}), never the path asked for, so
ids do not multiply the series; a path no route matches is `unmatched`, the web console's pages `portal`.
Each app has its own registry, so several apps in one process (tests) do not share or clash."""

import time
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.fleet_metrics import FleetGauges
from api.portal import PortalRoute

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
PORTAL = "portal"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Any other method is counted as `other`: a client cannot add series by inventing methods."""


class ApiMetrics:
    def __init__(self, *, fleet_refresh_seconds: float | None = None, window_seconds: int = 60) -> None:
        """`fleet_refresh_seconds`: also export the fleet's figures (`api.fleet_metrics`), read from the
        stores at most that often; None: only the API's own request metrics."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.fleet = (
            FleetGauges(self.registry, refresh_seconds=fleet_refresh_seconds, window_seconds=window_seconds)
            if fleet_refresh_seconds is not None
            else None
        )
        self.requests = Counter(
            "optiinfra_api_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "optiinfra_api_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )

    def route(self) -> Route:
        """The /metrics endpoint, left out of the OpenAPI document."""

        async def exposition(request: Request) -> Response:
            sessions = getattr(request.app.state, "sessions", None)  # None before the app's lifespan
            if self.fleet is not None and sessions is not None:
                await self.fleet.refresh(sessions, request.app.state.metrics)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return Route(METRICS_PATH, endpoint=exposition, methods=["GET"], include_in_schema=False)


def route_label(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The template of the route that answered, not the raw path. FastAPI names its route on the scope
    (`scope["route"]`), with the template relative to the router it was included with, so the prefix is
    what precedes the part of the path that template matches; the app's own Starlette routes (/metrics,
    /mcp, /docs, ...) are matched again here."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    route = scope.get("route")
    if isinstance(route, Route):
        return _prefix(path, route) + route.path
    for candidate in routes:
        if isinstance(candidate, PortalRoute | Route | Mount):
            match, _ = candidate.matches(dict(scope))
            if match is not Match.NONE:
                return PORTAL if isinstance(candidate, PortalRoute) else candidate.path
    return UNMATCHED


def _prefix(path: str, route: Route) -> str:
    """The part of `path` before the suffix `route`'s own template matches (its router's prefix): the
    longest one, as a template starts with a literal segment."""
    cut = len(path)
    while cut > 0:
        cut = path.rfind("/", 0, cut)
        if cut < 0:
            break
        if route.path_regex.match(path[cut:]):
            return path[:cut]
    return ""


class RequestMetricsMiddleware:
    """Pure ASGI: counts and times each HTTP request once its answer has started (a request that fails
    before answering counts as 500), with no buffering of the body, so streamed answers (MCP) pass as they
    are."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = route_label(scope, self.routes())
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.duration.labels(method=method, route=route).observe(time.perf_counter() - started)
