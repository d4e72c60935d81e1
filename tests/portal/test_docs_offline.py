"""Swagger UI at /docs works with no internet: Debian's chromium opens it from the API (the product's app
serving the built console, whose build holds Swagger UI's files) while every request whose host is not
loopback is aborted, and the page still draws every operation of the API's OpenAPI document and expands
one. Only the API is needed, not the embedded stack: the app is served without its lifespan (no engine,
no store), as /docs, its files and /openapi.json need neither."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Request, Route, expect

from api.app import create_app
from api.docs import DOCS_PATH, SWAGGER_CSS, SWAGGER_JS, SWAGGER_PREFIX
from optiinfra.engine.devserver import free_port
from optiinfra.settings import Settings
from tests.portal.stack import PORTAL_DIST, VIEWPORT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@pytest.fixture
async def api_url(portal_prerequisites: None) -> AsyncIterator[str]:
    """The API on a free loopback port, serving the built console (and so Swagger UI's files)."""
    bundle = PORTAL_DIST / SWAGGER_PREFIX.strip("/") / SWAGGER_JS
    if not bundle.is_file():
        pytest.fail(f"Swagger UI's files are not built ({bundle} does not exist): run `make portal`")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(portal_dir=PORTAL_DIST)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the API stopped before it started serving")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@dataclass
class Traffic:
    """Every request the browser made, those aborted for leaving loopback, and the page's errors."""

    requested: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def guard(self, route: Route, request: Request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK_HOSTS:
            self.requested.append(url)
            await route.continue_()
        else:
            self.blocked.append(url)
            await route.abort("internetdisconnected")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


def _operation_count(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(1 for item in paths.values() for method in item if method in HTTP_METHODS)


async def test_swagger_ui_draws_the_api_with_every_request_off_loopback_aborted(
    browser: Browser, api_url: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        document = (await http.get("/openapi.json")).json()
    operations = _operation_count(document)
    assert operations > 20, "the OpenAPI document lists too few operations to be the API's"
    assert document["paths"]["/healthz"]["get"]["operationId"]

    traffic = Traffic()
    context = await browser.new_context(base_url=api_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    await context.route("**/*", traffic.guard)
    try:
        page = await context.new_page()
        page.on("console", traffic.on_console)
        page.on("pageerror", lambda error: traffic.errors.append(f"page: {error}"))
        await page.goto(DOCS_PATH)

        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("OptiInfra")
        # Every operation of the document is drawn as a block (tags start expanded).
        await expect(page.locator(".swagger-ui .opblock")).to_have_count(operations, timeout=30_000)
        healthz = page.locator(".swagger-ui .opblock.opblock-get").filter(
            has=page.locator('.opblock-summary-path[data-path="/healthz"]')
        )
        await expect(healthz).to_have_count(1)
        await expect(healthz).to_be_visible()
        # Expanding it is Swagger UI's script at work: its responses and "Try it out" appear.
        await healthz.locator(".opblock-summary-control").click()
        await expect(healthz.get_by_role("button", name="Try it out")).to_be_visible()
        await expect(healthz.locator('.responses-table tr.response[data-code="200"]')).to_be_visible()
        await expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    finally:
        await context.close()

    assert traffic.blocked == [], f"requests tried to leave loopback: {traffic.blocked}"
    assert traffic.errors == [], f"the page reported errors: {traffic.errors}"
    paths = {urlsplit(url).path for url in traffic.requested}
    # The page, its files and the document all came from the API itself.
    assert {
        DOCS_PATH,
        f"{SWAGGER_PREFIX}/{SWAGGER_JS}",
        f"{SWAGGER_PREFIX}/{SWAGGER_CSS}",
        "/openapi.json",
    } <= paths, paths
    fetched = [url for url in traffic.requested if not url.startswith(("data:", "blob:"))]
    assert all(urlsplit(url).netloc == urlsplit(api_url).netloc for url in fetched), fetched
