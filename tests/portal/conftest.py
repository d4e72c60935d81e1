"""The portal tier: one embedded stack for every test (it takes ~40 s to start), Debian's chromium driven by
Playwright, and a fresh browser context per test whose requests may not leave the stack's origin and whose
pages may log no error.

Nothing here skips: a portal that is not built, or a missing chromium, fails the tier with what to do."""

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright, expect

from optiinfra.sim.moto_server import reset_moto
from tests.portal.stack import (
    PortalSetupError,
    PortalStack,
    Watch,
    chromium_path,
    guarded_context,
    launch_chromium,
    portal_stack,
    require_built_portal,
)

ACTION_TIMEOUT_MS = 15_000
EXPECT_TIMEOUT_MS = 10_000
"""How long an assertion on the page waits for it to show what it should (data arrives by polling)."""

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def portal_prerequisites() -> None:
    """The built portal and a chromium, checked before the (expensive) stack starts."""
    try:
        require_built_portal()
        chromium_path()
    except PortalSetupError as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
async def stack(portal_prerequisites: None, moto_endpoint: str) -> AsyncIterator[PortalStack]:
    """The product's embedded stack (engine, twin cloud and Kubernetes, store, worker, API serving the
    portal), with keys of each role for the demo customer."""
    # Moto keeps one cloud per process: forget whatever earlier tests in this process left in it, so the
    # stack's twin is only the demo fleet it seeds.
    reset_moto(moto_endpoint)
    async with portal_stack() as running:
        yield running


@pytest.fixture
async def admin_api(stack: PortalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.api(stack.keys.admin) as api:
        yield api


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(portal_prerequisites: None, playwright_driver: Playwright) -> AsyncIterator[Browser]:
    launched = await launch_chromium(playwright_driver)
    yield launched
    await launched.close()


@dataclass(frozen=True)
class Declared:
    pattern: re.Pattern[str]
    why: str
    required: bool


@dataclass
class ExpectedConsole:
    """Console errors a test's own path causes on purpose, each declared with the reason it is expected.
    Chromium logs every 4xx/5xx answer to a fetch as `Failed to load resource: ... status of N` with the
    URL; a test declares exactly that status on exactly that path. A declaration the path cannot go
    without (a wrong key: 401; a decision that lost the race: 409) is `required`: a test that passes
    without it having appeared fails, so the declaration cannot outlive its reason."""

    declared: list[Declared] = field(default_factory=list)

    def http_error(self, status: int, path: str, why: str, *, required: bool = True) -> None:
        pattern = re.compile(
            rf"^Failed to load resource: the server responded with a status of {status}\b"
            rf".*\(https?://[^/]+{re.escape(path)}"
        )
        self.declared.append(Declared(pattern, why, required))

    def allows(self, text: str) -> bool:
        return any(declared.pattern.search(text) for declared in self.declared)


@pytest.fixture
def expected_console() -> ExpectedConsole:
    return ExpectedConsole()


@dataclass
class Browsing:
    context: BrowserContext
    page: Page
    watch: Watch


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so a fixture's teardown knows how the test went."""
    report: pytest.TestReport = yield
    setattr(item, f"portal_report_{report.when}", report)
    return report


@pytest.fixture
async def browsing(
    request: pytest.FixtureRequest, stack: PortalStack, browser: Browser, expected_console: ExpectedConsole
) -> AsyncIterator[Browsing]:
    """A fresh context and page on the stack's origin. After the test: no request may have left the origin
    (the portal works with the network cut off), and no console or page error may have appeared beyond
    those the test declared."""
    context, watch = await guarded_context(browser, stack.base_url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    try:
        yield Browsing(context=context, page=page, watch=watch)
    finally:
        await context.close()
    unexpected = [text for text in watch.console_errors if not expected_console.allows(text)]
    call_report = getattr(request.node, "portal_report_call", None)
    reached_the_end = call_report is not None and call_report.passed
    unused = [
        f"{declared.pattern.pattern} ({declared.why})"
        for declared in expected_console.declared
        if declared.required
        and reached_the_end
        and not any(declared.pattern.search(text) for text in watch.console_errors)
    ]
    problems = (
        [f"request left the origin {watch.origin}: {url}" for url in watch.left_origin]
        + [f"console error: {text}" for text in unexpected]
        + [f"page error: {text}" for text in watch.page_errors]
        + [f"declared console error never appeared: {text}" for text in unused]
    )
    assert not problems, "the browser saw:\n" + "\n".join(problems)


@pytest.fixture
def page(browsing: Browsing) -> Page:
    return browsing.page
