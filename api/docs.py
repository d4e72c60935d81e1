"""Swagger UI at /docs, working offline: its script, style sheet and icon come from the web console's
build (`make portal` copies them from the npm package swagger-ui-dist into `portal_dir/swagger/`, which
`api.portal` serves), never from a CDN. ReDoc is not offered: its bundle is not shipped.

The page's one inline script (Swagger UI's start-up) is allowed by its hash, so the page's
Content-Security-Policy lets no other script run and nothing load from elsewhere."""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from optiinfra.settings import Settings

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
SWAGGER_PREFIX = "/swagger"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
SWAGGER_FAVICON = "favicon-32x32.png"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
NOT_BUILT = "Swagger UI's files are not built: run `make portal`\n"


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Add /docs and its OAuth2 redirect page; the app must be made with docs_url=None, redoc_url=None."""
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} API",
        swagger_js_url=f"{SWAGGER_PREFIX}/{SWAGGER_JS}",
        swagger_css_url=f"{SWAGGER_PREFIX}/{SWAGGER_CSS}",
        swagger_favicon_url=f"{SWAGGER_PREFIX}/{SWAGGER_FAVICON}",
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        # The validator badge would fetch an image from swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    headers = {
        "Content-Security-Policy": docs_policy(bytes(page.body).decode()),
        "X-Content-Type-Options": "nosniff",
    }
    bundle = settings.portal_dir / "swagger" / SWAGGER_JS

    async def swagger_ui(request: Request) -> Response:
        if not bundle.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503)
        return HTMLResponse(page.body, headers=headers)

    async def oauth2_redirect(request: Request) -> Response:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_PATH, swagger_ui, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_PATH, oauth2_redirect, methods=["GET", "HEAD"], include_in_schema=False)


def docs_policy(html: str) -> str:
    """Scripts from this origin plus the page's own inline ones (by hash); Swagger UI styles inline."""
    hashes = " ".join(f"'sha256-{_sha256(script)}'" for script in INLINE_SCRIPT.findall(html))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
