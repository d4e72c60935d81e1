"""The twin's Kubernetes-compatible HTTP endpoint: a stdlib threading HTTP server in a daemon thread that
serves a `KubeCluster` to the official `kubernetes` client (or anything else speaking the API).

Served paths:
- GET  /version
- GET, POST            /apis/apps/v1/namespaces/{ns}/deployments        (list takes labelSelector)
- GET, PUT, PATCH      /apis/apps/v1/namespaces/{ns}/deployments/{name}
- GET, PUT, PATCH      /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale
- GET                  /api/v1/namespaces/{ns}/pods                     (list takes labelSelector)
- GET, PATCH, DELETE   /api/v1/namespaces/{ns}/pods/{name}
- GET, POST            /apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers
- GET, PUT, PATCH, DELETE  /apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}

PATCH takes application/json-patch+json, application/merge-patch+json and
application/strategic-merge-patch+json; any other type is a 415. Errors are v1 Status objects. Every
answered request is logged in `cluster.events`; injected faults (`cluster.fail_next`) are answered
before anything is touched."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from optiinfra.sim.kube.errors import ApiError, bad_request
from optiinfra.sim.kube.patch import PATCH_TYPES
from optiinfra.sim.kube.state import KubeCluster

logger = logging.getLogger(__name__)

_SEGMENT = r"([^/]+)"
_HPA = rf"/apis/autoscaling/v2/namespaces/{_SEGMENT}/horizontalpodautoscalers"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/version/?$"), "version"),
    (re.compile(rf"^/apis/apps/v1/namespaces/{_SEGMENT}/deployments/?$"), "deployments"),
    (re.compile(rf"^/apis/apps/v1/namespaces/{_SEGMENT}/deployments/{_SEGMENT}/?$"), "deployment"),
    (re.compile(rf"^/apis/apps/v1/namespaces/{_SEGMENT}/deployments/{_SEGMENT}/scale/?$"), "scale"),
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/pods/?$"), "pods"),
    (re.compile(rf"^/api/v1/namespaces/{_SEGMENT}/pods/{_SEGMENT}/?$"), "pod"),
    (re.compile(rf"^{_HPA}/?$"), "autoscalers"),
    (re.compile(rf"^{_HPA}/{_SEGMENT}/?$"), "autoscaler"),
]
_ALLOWED = {
    "version": {"GET"},
    "deployments": {"GET", "POST"},
    "deployment": {"GET", "PUT", "PATCH"},
    "scale": {"GET", "PUT", "PATCH"},
    "pods": {"GET"},
    "pod": {"GET", "PATCH", "DELETE"},
    "autoscalers": {"GET", "POST"},
    "autoscaler": {"GET", "PUT", "PATCH", "DELETE"},
}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: KubeApiServer) -> None:
        self.api = api
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "optiinfra-kube-twin"
    timeout = 120
    disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms delayed-ACK stall
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("kube twin: " + format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        api = self.server.api
        split = urlsplit(self.path)
        path = split.path
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            api.authorize(self.headers.get("Authorization"))
            fault = api.cluster.take_fault(method, path)
            if fault is not None:
                raise fault
            code, payload = api.dispatch(method, path, query, self.headers.get("Content-Type"), raw)
        except ApiError as error:
            code, payload = error.code, error.status()
        except Exception as error:  # a bug in the twin must still answer like an API server
            logger.exception("kube twin failed on %s %s", method, path)
            code, payload = 500, ApiError(500, "InternalError", f"an error on the server: {error}").status()
        api.cluster.record_event(method, path, code)
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeApiServer:
    """Serves `cluster` (a fresh one if None) on http://host:port (port 0: a free one) from construction
    until `stop()`. With `token`, requests must carry `Authorization: Bearer <token>` or get a 401."""

    def __init__(
        self,
        cluster: KubeCluster | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        self.cluster = cluster if cluster is not None else KubeCluster()
        self.token = token
        self._httpd: _HttpServer | None = _HttpServer((host, port), self)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kube-twin-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and drop open connections. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> KubeApiServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def authorize(self, header: str | None) -> None:
        if self.token is not None and header != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def dispatch(
        self, method: str, path: str, query: dict[str, str], content_type: str | None, raw: bytes
    ) -> tuple[int, Any]:
        """Route one request to the cluster: (status code, JSON payload)."""
        for pattern, route in _ROUTES:
            matched = pattern.match(path)
            if matched is None:
                continue
            if method not in _ALLOWED[route]:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            args = [unquote(group) for group in matched.groups()]
            if "dryRun" in query:
                raise bad_request("dryRun is not supported by the twin")
            if "fieldSelector" in query:
                raise bad_request("fieldSelector is not supported by the twin")
            return self._call(route, method, args, query, _media_type(content_type), raw)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _call(
        self, route: str, method: str, args: list[str], query: dict[str, str], media: str, raw: bytes
    ) -> tuple[int, Any]:
        cluster = self.cluster
        selector = query.get("labelSelector")
        ns = args[0] if args else ""
        name = args[1] if len(args) > 1 else ""
        if route == "version":
            return 200, cluster.version()
        if route == "deployments":
            if method == "POST":
                return 201, cluster.create_deployment(_object_body(media, raw), ns)
            return 200, cluster.list_deployments(ns, selector)
        if route == "pods":
            return 200, cluster.list_pods(ns, selector)
        if route == "autoscalers":
            if method == "POST":
                return 201, cluster.create_autoscaler(ns, _object_body(media, raw))
            return 200, cluster.list_autoscalers(ns)
        handlers: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
            ("deployment", "GET"): lambda: cluster.get_deployment(ns, name),
            ("deployment", "PUT"): lambda: cluster.replace_deployment(ns, name, _object_body(media, raw)),
            ("deployment", "PATCH"): lambda: cluster.patch_deployment(ns, name, *_patch_body(media, raw)),
            ("scale", "GET"): lambda: cluster.get_scale(ns, name),
            ("scale", "PUT"): lambda: cluster.replace_scale(ns, name, _object_body(media, raw)),
            ("scale", "PATCH"): lambda: cluster.patch_scale(ns, name, *_patch_body(media, raw)),
            ("pod", "GET"): lambda: cluster.get_pod(ns, name),
            ("pod", "PATCH"): lambda: cluster.patch_pod(ns, name, *_patch_body(media, raw)),
            ("pod", "DELETE"): lambda: cluster.delete_pod(ns, name),
            ("autoscaler", "GET"): lambda: cluster.get_autoscaler(ns, name),
            ("autoscaler", "PUT"): lambda: cluster.replace_autoscaler(ns, name, _object_body(media, raw)),
            ("autoscaler", "PATCH"): lambda: cluster.patch_autoscaler(ns, name, *_patch_body(media, raw)),
            ("autoscaler", "DELETE"): lambda: cluster.delete_autoscaler(ns, name),
        }
        return 200, handlers[(route, method)]()


def start_kube_server(
    cluster: KubeCluster | None = None, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None
) -> KubeApiServer:
    """Start serving `cluster` (a fresh one if None); stop it, or use it as a context manager."""
    return KubeApiServer(cluster, host=host, port=port, token=token)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from error


def _object_body(media: str, raw: bytes) -> dict[str, Any]:
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {media}"
        )
    body = _decode(raw)
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _patch_body(media: str, raw: bytes) -> tuple[str, Any]:
    if media not in PATCH_TYPES:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(PATCH_TYPES),
        )
    return media, _decode(raw)
