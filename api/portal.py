"""The web console (a single-page app built into `portal_dir` by `make portal`), served at / by the API it
talks to, so it needs no server or CDN of its own.

- A GET for a file in `portal_dir` answers the file; any other GET answers index.html, whose router draws
  the page (/recommendations/abc is a page, not a file). Files under /assets/ carry a hash in their name,
  so they are cached for a year; everything else is revalidated on each use (ETag), so a new build shows
  at once.
- The API's own paths (/v1, /mcp, /docs, /openapi.json, /healthz, /metrics) never reach this: an unknown
  /v1 path stays a JSON 404, and a wrong method on an API path stays a 405. /swagger/ answers its files
  only.
- A path never leaves `portal_dir`: a `..` or hidden segment is a 404, and what a path resolves to
  (symlinks followed) must lie inside the folder.
- Without a build (no index.html), every console path answers 503 saying to run `make portal`.

Every answer carries a Content-Security-Policy: scripts, styles, fonts and images from this origin only
(images also as data: URLs, as charts and icons use them), no framing, no plugins. `connect-src` is this
origin plus https: and loopback origins, because signing in with a customer's identity provider has the
browser read the provider's discovery document and exchange the code at its token endpoint (PKCE, no
secret), and which provider that is is known only once a customer is typed in; listing the registered
issuers here instead would tell any visitor which identity providers the customers use."""

import stat
from typing import Any

import anyio
from starlette.datastructures import Headers, URLPath
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Receive, Scope, Send

from api.docs import SWAGGER_PREFIX
from api.mcp_server import MCP_PATH

API_PREFIXES = ("/v1", MCP_PATH, "/docs", "/openapi.json", "/healthz", "/metrics")
ASSETS_PREFIX = "/assets/"
INDEX = "index.html"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_BUILT = "The web console is not built: run `make portal`\n"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self' https: http://localhost:* http://127.0.0.1:*",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The sign-in callback's URL holds the authorization code: no other site is told it.
    "Referrer-Policy": "no-referrer",
}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class PortalRoute(BaseRoute):
    """Matches every GET and HEAD outside the API's paths, so it must come after every other route; it
    matches no other method, so a POST to an unknown path stays a 404 and one to a GET route a 405."""

    def __init__(self, portal_dir: str) -> None:
        self.files = StaticFiles(directory=portal_dir, check_dir=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        if any(_under(scope["path"], prefix) for prefix in API_PREFIXES):
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope)
        response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response:
        path: str = scope["path"]
        segments = [segment for segment in path.split("/") if segment]
        if any(segment.startswith(".") or "\\" in segment or "\x00" in segment for segment in segments):
            raise HTTPException(404)
        found = await self._file("/".join(segments), scope) if segments else None
        if found is not None:
            found.headers["Cache-Control"] = IMMUTABLE if path.startswith(ASSETS_PREFIX) else REVALIDATE
            return found
        if _under(path, SWAGGER_PREFIX):
            raise HTTPException(404)
        index = await self._file(INDEX, scope)
        if index is None:
            return PlainTextResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        index.headers["Cache-Control"] = REVALIDATE
        return index

    async def _file(self, relative: str, scope: Scope) -> Response | None:
        """The file at `relative` inside the folder (a 304 when the client holds it), or None."""
        try:
            full_path, stat_result = await anyio.to_thread.run_sync(self.files.lookup_path, relative)
        except (OSError, ValueError):  # a name too long, or that the file system refuses
            return None
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            return None
        response = FileResponse(full_path, stat_result=stat_result)
        if self.files.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response
