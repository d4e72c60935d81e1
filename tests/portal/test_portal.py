"""The portal end to end, as a person uses it: Debian's chromium against the product's embedded stack serving
the built portal, driven only through what a person sees (roles and accessible names from the contract),
with every request kept on the stack's origin (see conftest)."""

import asyncio
import re
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import Locator, Page, Request, Route, expect

from tests.portal.conftest import ExpectedConsole
from tests.portal.stack import (
    PendingRecommendation,
    PortalStack,
    create_key,
    sign_in,
    start_pending,
    wait_for_recommendation,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

AGENT_REGIONS = ("Cost agent", "Performance agent", "Resource agent", "Application agent")
NAV_LINKS = ("Dashboard", "Recommendations", "Workloads", "Conflicts", "Schedules", "Audit log", "Settings")
DOLLARS = re.compile(r"\$\s?\d[\d,]*(\.\d+)?")
EXECUTION_TIMEOUT_MS = 150_000
"""A spot migration launches replicas in the twin, waits for them, verifies and watches: about a minute."""


def link_to(page: Page, scope: Page | Locator, pending: PendingRecommendation) -> Locator:
    """The link named by the recommendation's title that leads to it (several recommendations of one
    workload share a title, so the one meant is told apart by where it leads)."""
    return scope.get_by_role("link", name=pending.title, exact=True).and_(
        page.locator(f'[href$="/recommendations/{pending.id}"]')
    )


def status_of(page: Page) -> Locator:
    return page.get_by_label("Status", exact=True)


async def open_recommendation(page: Page, pending: PendingRecommendation) -> None:
    await expect(page.get_by_role("heading", name=pending.title, level=1)).to_be_visible()
    assert page.url.endswith(f"/recommendations/{pending.id}"), page.url


async def test_sign_in_shows_the_dashboard_with_its_figures(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    pending = await start_pending(admin_api, "rag-embed")

    await page.goto("/")
    await expect(
        page.get_by_role("textbox", name="API key", exact=True)
    ).to_be_visible()  # not signed in: sign-in first
    await page.get_by_role("textbox", name="API key", exact=True).fill(stack.keys.admin)
    await page.get_by_role("button", name="Sign in", exact=True).click()

    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main")
    for name in NAV_LINKS:
        await expect(navigation.get_by_role("link", name=name, exact=True)).to_be_visible()
    await expect(page.get_by_text(stack.keys.admin_name, exact=False).first).to_be_visible()
    for name in AGENT_REGIONS:
        region = page.get_by_role("region", name=name, exact=True)
        await expect(region).to_be_visible()
        await expect(region).not_to_be_empty()
    savings = page.get_by_role("region", name="Savings, last 30 days", exact=True)
    await expect(savings).to_contain_text(DOLLARS)
    for name in ("SLO attainment", "Spend and cost per 1M tokens"):
        await expect(page.get_by_role("region", name=name, exact=True)).to_be_visible()
    waiting = page.get_by_role("region", name="Pending recommendations", exact=True)
    await expect(link_to(page, waiting, pending)).to_be_visible()
    await expect(waiting).to_contain_text(DOLLARS)  # each with its monthly savings


async def test_the_credential_lives_in_session_storage_and_sign_out_forgets_it(
    stack: PortalStack, page: Page
) -> None:
    await sign_in(page, stack.keys.viewer)
    session_values = await page.evaluate("Object.values(sessionStorage).join('\\n')")
    local_values = await page.evaluate("Object.values(localStorage).join('\\n')")
    assert stack.keys.viewer in session_values
    assert stack.keys.viewer not in local_values

    await page.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.get_by_role("textbox", name="API key", exact=True)).to_be_visible()
    assert stack.keys.viewer not in await page.evaluate("Object.values(sessionStorage).join('\\n')")
    await page.goto("/")  # nothing remembered: back to sign-in
    await expect(page.get_by_role("textbox", name="API key", exact=True)).to_be_visible()


async def test_a_wrong_key_shows_the_servers_message_and_stays_on_sign_in(
    stack: PortalStack, page: Page, expected_console: ExpectedConsole
) -> None:
    expected_console.http_error(
        401, "/v1/", "the portal checks the wrong key with the API, which answers 401"
    )
    wrong = "oik_000000000000_not-a-real-secret"
    async with httpx.AsyncClient(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {wrong}"}
    ) as api:
        refused = await api.get("/v1/session")
    assert refused.status_code == 401
    detail = refused.json()["detail"]

    await page.goto("/sign-in")
    await page.get_by_role("textbox", name="API key", exact=True).fill(wrong)
    await page.get_by_role("button", name="Sign in", exact=True).click()

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(detail)
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
    assert page.url.endswith("/sign-in"), page.url


async def test_approving_from_the_list_runs_to_executed_without_a_reload(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    # The only approval of code-assist in this stack: once it has changed the workload, other code-assist
    # recommendations would be superseded when approved.
    pending = await start_pending(admin_api, "code-assist")
    reason = "e2e: code-assist is stateless, spot is fine"

    await sign_in(page, stack.keys.approver)
    waiting = page.get_by_role("region", name="Pending recommendations", exact=True)
    await link_to(page, waiting, pending).click()
    await open_recommendation(page, pending)
    await expect(status_of(page)).to_have_text("pending_approval")
    await page.evaluate("window.__e2eNoReload = true")  # a reload would forget it

    await page.get_by_role("textbox", name="Reason").fill(reason)
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Approved")).to_be_visible()
    await expect(status_of(page)).to_have_text("executed", timeout=EXECUTION_TIMEOUT_MS)
    assert await page.evaluate("window.__e2eNoReload === true"), "the page reloaded"
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    detail = await wait_for_recommendation(admin_api, pending.id, {"executed"}, timeout_s=10)
    assert detail["approval"]["decision"] == "approve"
    assert detail["approval"]["approver"] == stack.keys.approver_name
    assert detail["approval"]["reason"] == reason
    results = detail["step_results"]
    assert results, detail
    steps = page.get_by_role("region", name="Steps", exact=True)
    await expect(steps).to_be_visible()
    shown = await steps.inner_text()
    for status in {result["status"] for result in results}:
        wanted = sum(result["status"] == status for result in results)
        assert shown.count(status) >= wanted, (
            f"the Steps timeline shows {status!r} fewer than {wanted} times:\n{shown}"
        )
    for name in ("Reasoning", "Evidence", "Preview", "Compensations", "Outcome"):
        await expect(page.get_by_role("region", name=name, exact=True)).to_be_visible()


async def test_rejecting_with_a_reason(stack: PortalStack, admin_api: httpx.AsyncClient, page: Page) -> None:
    pending = await start_pending(admin_api, "rag-embed")
    reason = "e2e: we are moving rag-embed off L4 next quarter"

    await sign_in(page, stack.keys.approver)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Recommendations").click()
    await expect(page.get_by_role("heading", name="Recommendations", level=1)).to_be_visible()
    await link_to(page, page.get_by_role("table"), pending).click()
    await open_recommendation(page, pending)
    await expect(status_of(page)).to_have_text("pending_approval")

    await page.get_by_role("textbox", name="Reason").fill(reason)
    await page.get_by_role("button", name="Reject", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Rejected")).to_be_visible()
    await expect(status_of(page)).to_have_text("rejected", timeout=30_000)

    detail = await wait_for_recommendation(admin_api, pending.id, {"rejected"}, timeout_s=10)
    assert detail["approval"]["decision"] == "reject"
    assert detail["approval"]["approver"] == stack.keys.approver_name
    assert detail["approval"]["reason"] == reason


async def test_a_viewer_sees_a_recommendation_but_cannot_decide_it(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    pending = await start_pending(admin_api, "support-bot")

    await sign_in(page, stack.keys.viewer)
    await page.goto(f"/recommendations/{pending.id}")
    await open_recommendation(page, pending)
    await expect(status_of(page)).to_have_text("pending_approval")
    await expect(page.get_by_role("region", name="Steps", exact=True)).to_be_visible()

    await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    await expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    await expect(page.get_by_role("textbox", name="Reason")).to_have_count(0)

    async with stack.api(stack.keys.viewer) as api:
        session = (await api.get("/v1/session")).json()
    temporal = page.get_by_role("link", name="Open in Temporal UI")
    if session["temporal_ui_url"] is None:
        await expect(temporal).to_have_count(0)
    else:
        await expect(temporal).to_have_attribute(
            "href",
            f"{session['temporal_ui_url']}/namespaces/{session['temporal_namespace']}/workflows/"
            f"{quote(pending.workflow_id, safe='')}",
        )


async def test_a_decision_that_lost_the_race_names_who_decided_first(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page, expected_console: ExpectedConsole
) -> None:
    pending = await start_pending(admin_api, "batch-summarize")
    expected_console.http_error(
        409, f"/v1/recommendations/{pending.id}/approve", "the approval loses to the admin's rejection: 409"
    )
    first_reason = "e2e: the admin rejected this one first"

    await sign_in(page, stack.keys.approver)
    await page.goto(f"/recommendations/{pending.id}")
    await open_recommendation(page, pending)
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()

    # Hold the page's polling of this recommendation, as a slow network would, so it still shows the
    # recommendation as pending when its holder clicks Approve (the page polls every 2 s).
    polls_released = asyncio.Event()

    async def hold(route: Route, request: Request) -> None:
        if request.method == "GET":
            await polls_released.wait()
        await route.continue_()

    detail_url = re.compile(rf"/v1/recommendations/{re.escape(pending.id)}$")
    await page.route(detail_url, hold)
    try:
        rejected = await admin_api.post(
            f"/v1/recommendations/{pending.id}/reject", json={"reason": first_reason}
        )
        assert rejected.status_code == 202, rejected.text

        await page.get_by_role("textbox", name="Reason").fill("e2e: approving too late")
        async with page.expect_response(lambda r: r.url.endswith(f"/{pending.id}/approve")) as answered:
            await page.get_by_role("button", name="Approve", exact=True).click()
        refused = await answered.value
        assert refused.status == 409
        detail = (await refused.json())["detail"]
    finally:
        polls_released.set()
    assert f"already rejected by {stack.keys.admin_name}" in detail
    assert first_reason in detail

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(detail)
    await expect(alert).to_contain_text(stack.keys.admin_name)
    await expect(status_of(page)).to_have_text("rejected", timeout=15_000)  # the poll catches up
    await expect(alert).to_contain_text(stack.keys.admin_name)  # and the person still sees why
    await page.unroute(detail_url, hold)


async def test_filtering_the_recommendations_by_status(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    waiting = await start_pending(admin_api, "support-bot")
    decided = await start_pending(admin_api, "rag-embed")
    rejected = await admin_api.post(
        f"/v1/recommendations/{decided.id}/reject", json={"reason": "e2e: filtered"}
    )
    assert rejected.status_code == 202, rejected.text
    await wait_for_recommendation(admin_api, decided.id, {"rejected"})

    await sign_in(page, stack.keys.viewer)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Recommendations").click()
    table = page.get_by_role("table")
    await expect(link_to(page, table, waiting)).to_be_visible()
    await expect(link_to(page, table, decided)).to_be_visible()

    await page.get_by_role("combobox", name="Status", exact=True).select_option("pending_approval")
    await expect(link_to(page, table, decided)).to_have_count(0)
    await expect(link_to(page, table, waiting)).to_be_visible()

    await page.get_by_role("combobox", name="Status", exact=True).select_option("rejected")
    await expect(link_to(page, table, waiting)).to_have_count(0)
    await expect(link_to(page, table, decided)).to_be_visible()


async def test_a_revoked_key_is_sent_back_to_sign_in(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page, expected_console: ExpectedConsole
) -> None:
    expected_console.http_error(401, "/v1/", "the key was revoked while signed in: the API answers 401")
    pending = await start_pending(admin_api, "support-bot")
    token, _ = await create_key(admin_api, "viewer", "portal-revoked")
    key_id = token.removeprefix("oik_").split("_", 1)[0]

    await sign_in(page, token)
    await page.goto(f"/recommendations/{pending.id}")
    await open_recommendation(page, pending)  # a page that polls while the recommendation waits
    revoked = await admin_api.delete(f"/v1/customers/demo/api-keys/{key_id}")
    assert revoked.status_code in (200, 204), revoked.text

    # The person does nothing: the page's next poll gets the 401 and sends them to sign in.
    await expect(page.get_by_role("textbox", name="API key", exact=True)).to_be_visible()
    assert token not in await page.evaluate("Object.values(sessionStorage).join('\\n')")


async def test_starting_an_optimization_from_the_workloads_page(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    before = await admin_api.get("/v1/optimizations", params={"workload_id": "batch-summarize", "limit": 100})
    assert before.status_code == 200, before.text
    known = {run["workflow_id"] for run in before.json()["items"]}

    await sign_in(page, stack.keys.admin)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Workloads").click()
    await expect(page.get_by_role("heading", name="Workloads", level=1)).to_be_visible()
    await page.get_by_role("button", name="Optimize batch-summarize", exact=True).click()

    started = page.get_by_role("status").filter(has=page.get_by_role("link"))
    await expect(started).to_be_visible()
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        after = await admin_api.get(
            "/v1/optimizations", params={"workload_id": "batch-summarize", "limit": 100}
        )
        new = {run["workflow_id"] for run in after.json()["items"]} - known
        if new:
            break
        assert asyncio.get_running_loop().time() < deadline, (
            "the click started no optimization of batch-summarize"
        )
        await asyncio.sleep(0.5)
    (workflow_id,) = new
    assert workflow_id.startswith("opt/demo/batch-summarize/"), workflow_id


async def test_swagger_ui_renders_from_the_origin_alone(stack: PortalStack, page: Page) -> None:
    await page.goto("/docs")
    await expect(page.get_by_role("heading", name=re.compile("OptiInfra"))).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile(r"^recommendations")).first).to_be_visible()
    await expect(page.get_by_role("button", name="Authorize")).to_be_visible()


async def test_signing_in_with_the_keyboard_alone(stack: PortalStack, page: Page) -> None:
    await page.goto("/sign-in")
    key_box = page.get_by_role("textbox", name="API key", exact=True)
    await expect(key_box).to_be_visible()
    for _ in range(10):
        if await key_box.evaluate("element => element === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    else:
        raise AssertionError("ten presses of Tab never reached the API key textbox")
    await page.keyboard.type(stack.keys.admin)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # Onward by keyboard too: Tab reaches the Recommendations link and Enter follows it.
    recommendations = page.get_by_role("navigation", name="Main").get_by_role("link", name="Recommendations")
    for _ in range(30):
        if await recommendations.evaluate("element => element === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    else:
        raise AssertionError("thirty presses of Tab never reached the Recommendations link")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Recommendations", level=1)).to_be_visible()


UNNAMED_CONTROL = re.compile(
    r'^\s*- (button|link|textbox|combobox|checkbox|radio|searchbox|spinbutton)(?! ")'
)
EMPTY_NAME = re.compile(r'^\s*- (button|link|textbox|combobox|checkbox|radio|searchbox|spinbutton) ""')


def unnamed_controls(snapshot: str) -> list[str]:
    """Lines of an ARIA snapshot (Playwright's, from the accessibility tree) for controls without a name."""
    return [line for line in snapshot.splitlines() if UNNAMED_CONTROL.match(line) or EMPTY_NAME.match(line)]


async def test_every_control_has_an_accessible_name(
    stack: PortalStack, admin_api: httpx.AsyncClient, page: Page
) -> None:
    pending = await start_pending(admin_api, "support-bot")
    await sign_in(page, stack.keys.admin)
    await expect(
        link_to(page, page.get_by_role("region", name="Pending recommendations"), pending)
    ).to_be_visible()
    pages = {"dashboard": await page.locator("body").aria_snapshot()}

    await page.goto("/recommendations")
    await expect(link_to(page, page.get_by_role("table"), pending)).to_be_visible()
    for name in ("Status", "Agent", "Workload", "Risk"):
        await expect(page.get_by_role("combobox", name=name, exact=True)).to_be_visible()
    for name in ("Previous page", "Next page"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    pages["recommendations"] = await page.locator("body").aria_snapshot()

    await page.goto(f"/recommendations/{pending.id}")
    await open_recommendation(page, pending)
    await expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    await expect(page.get_by_role("textbox", name="Reason", exact=True)).to_be_visible()
    pages["recommendation"] = await page.locator("body").aria_snapshot()

    unnamed = {where: unnamed_controls(snapshot) for where, snapshot in pages.items()}
    assert not any(unnamed.values()), f"controls without an accessible name: {unnamed}"


async def test_every_page_of_the_navigation_opens_with_named_controls(
    stack: PortalStack, page: Page, expected_console: ExpectedConsole
) -> None:
    """Each page the Main navigation leads to, opened by its link as an admin (who sees every control):
    a level-1 heading, no error shown, and no control without an accessible name."""
    expected_console.http_error(
        404,
        "/v1/customers/demo/identity-provider",
        "Settings asks for the customer's identity provider; the demo customer has none, which the API "
        "answers with its documented 404",
        required=False,  # only if the Settings page asks for it on opening
    )
    await sign_in(page, stack.keys.admin)
    navigation = page.get_by_role("navigation", name="Main")
    unnamed: dict[str, list[str]] = {}
    for name in NAV_LINKS:
        await navigation.get_by_role("link", name=name, exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await page.wait_for_load_state("networkidle")
        await expect(page.get_by_role("alert")).to_have_count(0)
        unnamed[name] = unnamed_controls(await page.locator("body").aria_snapshot())
    assert not any(unnamed.values()), f"controls without an accessible name: {unnamed}"
