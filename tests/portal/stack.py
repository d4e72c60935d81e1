"""What the portal's end-to-end tests and `python -m tests.portal.screenshots` share: the product's own
embedded stack (`optiinfra.embedded.stack.running_stack`) with fast timings, keys of each role for the demo
customer, fresh recommendations started through the public API, and Debian's chromium driven by
Playwright with a guard that keeps every request on the stack's own origin."""

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Route,
    expect,
)

from optiinfra.access.keys import split_key
from optiinfra.embedded.stack import RunningStack, running_stack
from optiinfra.settings import Settings
from optiinfra.store.api_keys import key_principal_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTAL_DIST = REPO_ROOT / "portal" / "dist"
NOT_BUILT = "the portal is not built: run `make portal`"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
LOOPBACK_ORIGIN = re.compile(r"http://(127\.0\.0\.1|localhost):[1-9][0-9]{0,4}")
VIEWPORT = {"width": 1280, "height": 800}
CUSTOMER = "demo"
APPROVAL_TIMEOUT_SECONDS = 3600
"""Long enough that no recommendation a test (or the screenshots) waits on expires meanwhile."""
FINAL_STATUSES = frozenset(
    {"executed", "rejected", "rolled_back", "failed", "expired", "superseded", "cancelled"}
)


class PortalSetupError(RuntimeError):
    """Something the portal tier needs is missing (the built portal, the browser); the message says what."""


def portal_index() -> Path:
    return PORTAL_DIST / "index.html"


def require_built_portal() -> None:
    if not portal_index().is_file():
        raise PortalSetupError(f"{NOT_BUILT} ({portal_index()} does not exist)")


def chromium_path() -> str:
    """Debian's chromium, or the one OPTIINFRA_CHROMIUM names."""
    path = os.environ.get("OPTIINFRA_CHROMIUM") or DEFAULT_CHROMIUM
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        raise PortalSetupError(
            f"no chromium at {path}: install Debian's `chromium` package or set OPTIINFRA_CHROMIUM "
            "to a Chromium executable"
        )
    return path


def portal_settings(**overrides: Any) -> Settings:
    """The embedded profile with timings short enough for a test: a decision executes, is verified and
    watched within seconds; nothing waiting for approval expires during a run; a task queue of its own."""
    values: dict[str, Any] = {
        "temporal_task_queue": f"portal-{uuid4().hex[:12]}",
        "approval_timeout_seconds": APPROVAL_TIMEOUT_SECONDS,
        "verify_delay_seconds": 1,
        "regression_watch_seconds": 1,
        "activity_timeout_seconds": 30,
        "activity_heartbeat_seconds": 10,
        "activity_max_attempts": 3,
        "lock_poll_seconds": 1,
        "twin_window_seconds": 1.0,
    }
    if "portal_dir" in Settings.model_fields:
        values["portal_dir"] = PORTAL_DIST
    values.update(overrides)
    return Settings(**values)


@dataclass(frozen=True)
class Keys:
    """Bearer credentials of the demo customer, one per role, and the platform token."""

    platform: str
    admin: str
    approver: str
    viewer: str
    approver_name: str
    admin_name: str


@dataclass
class PortalStack:
    running: RunningStack
    base_url: str
    keys: Keys

    @property
    def platform_token(self) -> str:
        return self.keys.platform

    @property
    def admin_key(self) -> str:
        return self.keys.admin

    def api(self, key: str | None = None) -> httpx.AsyncClient:
        """A client of the public API as the holder of `key` (the admin key by default)."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key or self.keys.admin}"},
            timeout=30,
        )


async def create_key(api: httpx.AsyncClient, role: str, name: str) -> tuple[str, str]:
    """A key of `role` for the demo customer, made through the API by its admin: (token, principal name)."""
    made = await api.post(
        f"/v1/customers/{CUSTOMER}/api-keys", json={"name": name, "role": role, "expires_in_days": 1}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    return body["token"], f"key:{body['key']['key_id']} ({body['key']['name']})"


@asynccontextmanager
async def portal_stack(**overrides: Any) -> AsyncIterator[PortalStack]:
    """The embedded stack on free ports in a throwaway directory, serving the built portal."""
    require_built_portal()
    async with running_stack(portal_settings(**overrides), persistent=False) as running:
        if running.demo_admin_key is None:
            raise PortalSetupError("the embedded stack made no demo admin key (is the profile `embedded`?)")
        base_url = running.api_url
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {running.demo_admin_key}"}, timeout=30
        ) as admin:
            admin_id = split_key(running.demo_admin_key)
            assert admin_id is not None, "the demo admin key is not shaped like an API key"
            admin_name = key_principal_name(admin_id[0], "demo-admin")
            approver, approver_name = await create_key(admin, "approver", "portal-approver")
            viewer, _ = await create_key(admin, "viewer", "portal-viewer")
        yield PortalStack(
            running=running,
            base_url=base_url,
            keys=Keys(
                platform=running.api_token,
                admin=running.demo_admin_key,
                approver=approver,
                viewer=viewer,
                approver_name=approver_name,
                admin_name=admin_name,
            ),
        )


@dataclass(frozen=True)
class PendingRecommendation:
    id: str
    title: str
    workflow_id: str
    workload_id: str


async def start_pending(
    api: httpx.AsyncClient, workload_id: str = "code-assist", *, timeout_s: float = 90
) -> PendingRecommendation:
    """Start the Cost agent on a demo workload through the API and wait until its recommendation waits
    for approval. `code-assist` gives a spot migration; other workloads give other kinds (see
    optiinfra/sim/demo_fleet.py). Several may wait on one workload at once, but once one of them has
    changed the workload the others are superseded when approved."""
    started = await api.post("/v1/optimizations", json={"customer_id": CUSTOMER, "workload_id": workload_id})
    assert started.status_code == 201, started.text
    workflow_id = started.json()["workflow_id"]
    deadline = time.monotonic() + timeout_s
    while True:
        listed = await api.get(
            "/v1/recommendations",
            params={"status": "pending_approval", "workload_id": workload_id, "limit": 100},
        )
        assert listed.status_code == 200, listed.text
        for item in listed.json()["items"]:
            if item["workflow_id"] == workflow_id:
                return PendingRecommendation(item["id"], item["title"], workflow_id, workload_id)
        if time.monotonic() > deadline:
            run = await api.get(f"/v1/optimizations/{workflow_id}")
            raise AssertionError(
                f"{workflow_id} made no recommendation waiting for approval within {timeout_s:.0f} s: "
                f"{run.status_code} {run.text[:2000]}"
            )
        await asyncio.sleep(0.5)


async def wait_for_recommendation(
    api: httpx.AsyncClient, recommendation_id: str, statuses: set[str], *, timeout_s: float = 90
) -> dict[str, Any]:
    """The recommendation's detail once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = await api.get(f"/v1/recommendations/{recommendation_id}")
        assert got.status_code == 200, got.text
        detail: dict[str, Any] = got.json()
        if detail["status"] in statuses:
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"{recommendation_id} stayed {detail['status']}, expected one of {statuses}")
        await asyncio.sleep(0.5)


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )


@dataclass
class Watch:
    """What a browser context did that a test must see fail it: requests that tried to leave the stack's
    origin (aborted), console errors, and uncaught page errors."""

    origin: str
    left_origin: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    extra_origin: str | None = None
    """One more origin a test lets its context reach (a loopback server it runs, e.g. an identity
    provider); None by default: only the stack's origin."""

    def allow_origin(self, origin: str) -> None:
        """Let this context's requests reach one more origin, which must be a loopback server on a port."""
        if self.extra_origin is not None and self.extra_origin != origin:
            raise ValueError(f"{self.extra_origin} is already allowed: a context allows one extra origin")
        if LOOPBACK_ORIGIN.fullmatch(origin) is None or origin == self.origin:
            raise ValueError(f"{origin} is not a loopback origin other than the stack's")
        self.extra_origin = origin

    def allows(self, url: str) -> bool:
        return origin_of(url) in (self.origin, self.extra_origin) or url.startswith(
            ("data:", "blob:", "about:")
        )

    def problems(self) -> list[str]:
        return (
            [f"request left the origin {self.origin}: {url}" for url in self.left_origin]
            + [f"console error: {text}" for text in self.console_errors]
            + [f"page error: {text}" for text in self.page_errors]
        )

    def watch_page(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console_errors.append(f"{message.text} ({where})")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def guarded_context(browser: Browser, base_url: str) -> tuple[BrowserContext, Watch]:
    """A fresh context whose every request outside `base_url`'s origin is aborted and recorded (the
    portal must work with the network cut off), and whose pages' errors are collected. A test that runs a
    loopback server the portal must reach (an identity provider) allows that one origin with
    `watch.allow_origin`."""
    watch = Watch(origin=origin_of(base_url))
    context = await browser.new_context(base_url=base_url, viewport=VIEWPORT)  # type: ignore[arg-type]

    async def guard(route: Route, request: Request) -> None:
        url = request.url
        if watch.allows(url):
            await route.continue_()
        else:
            watch.left_origin.append(url)
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    context.on("page", watch.watch_page)
    return context, watch


async def sign_in(page: Page, key: str) -> None:
    """Sign in through the sign-in page as a person would, and wait for the dashboard."""
    await page.goto("/sign-in")
    await page.get_by_role("textbox", name="API key", exact=True).fill(key)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
