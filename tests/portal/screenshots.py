"""The README's pictures of the portal: `python -m tests.portal.screenshots OUTDIR` starts the embedded
stack, gives it recommendations waiting for approval and one approved and executed, signs in as the demo
admin, and saves OUTDIR/dashboard.png and OUTDIR/recommendation.png (1280x800 viewport, full page).

It exits 1 (after saving) if the browser saw a request leave the stack's origin or logged an error."""

import asyncio
import sys
import time
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright, expect

from tests.portal.stack import (
    PortalSetupError,
    PortalStack,
    chromium_path,
    guarded_context,
    launch_chromium,
    portal_stack,
    sign_in,
    start_pending,
    wait_for_recommendation,
)

SETTLED_PHASES = {"no_action", "pending_approval", "executed", "rolled_back", "failed", "rejected", "expired"}
SETTLE_S = 2.0
"""After the data is shown: charts finish their entry animation."""


async def _settled(page: Page) -> None:
    await page.wait_for_load_state("networkidle")
    await asyncio.sleep(SETTLE_S)


async def _run_settled(api: httpx.AsyncClient, workflow_id: str, timeout_s: float = 180) -> None:
    """Wait until an optimization run has nothing more to do without a person."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = await api.get(f"/v1/optimizations/{workflow_id}")
        assert run.status_code == 200, run.text
        if run.json()["phase"] in SETTLED_PHASES:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{workflow_id} did not settle within {timeout_s:.0f} s: {run.text[:2000]}")
        await asyncio.sleep(0.5)


async def _measured(api: httpx.AsyncClient, timeout_s: float = 180) -> None:
    """Until the collection schedule has stored the fleet's first windows: before them no instance is
    attributed to a workload, so the dashboard's spend and tokens would all read "not measured"."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = (await api.get("/v1/reports/inference-cost")).json()
        if any(item["total_cost_usd"] is not None and item["total_tokens"] > 0 for item in report["items"]):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no workload's cost and tokens were measured within {timeout_s:.0f} s")
        await asyncio.sleep(1)


async def take(stack: PortalStack, outdir: Path) -> list[str]:
    async with stack.api() as api:
        executed = await start_pending(api, "code-assist")
        approved = await api.post(
            f"/v1/recommendations/{executed.id}/approve",
            json={"reason": "code-assist is stateless; an on-demand base carries its peak"},
        )
        assert approved.status_code == 202, approved.text
        waiting = [await start_pending(api, workload) for workload in ("rag-embed", "support-bot")]
        started = await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "chat-8b"})
        assert started.status_code == 201, started.text  # a low-risk right-sizing: executes on its own
        await wait_for_recommendation(api, executed.id, {"executed"}, timeout_s=180)
        await _run_settled(api, started.json()["workflow_id"])
        await _measured(api)

    async with async_playwright() as driver:
        browser = await launch_chromium(driver)
        try:
            context, watch = await guarded_context(browser, stack.base_url)
            page = await context.new_page()
            await sign_in(page, stack.keys.admin)
            pending = page.get_by_role("region", name="Pending recommendations", exact=True)
            for recommendation in waiting:
                await expect(pending.get_by_role("link", name=recommendation.title).first).to_be_visible()
            await _settled(page)
            await page.screenshot(path=outdir / "dashboard.png", full_page=True)

            await page.goto(f"/recommendations/{executed.id}")
            await expect(page.get_by_role("heading", name=executed.title, level=1)).to_be_visible()
            await expect(page.get_by_label("Status", exact=True)).to_have_text("executed")
            await _settled(page)
            await page.screenshot(path=outdir / "recommendation.png", full_page=True)
            await context.close()
        finally:
            await browser.close()
    return watch.problems()


async def main(outdir: Path) -> int:
    try:
        chromium_path()
        async with portal_stack() as stack:
            problems = await take(stack, outdir)
    except PortalSetupError as missing:
        print(missing, file=sys.stderr)
        return 2
    for name in ("dashboard.png", "recommendation.png"):
        print(outdir / name)
    if problems:
        print("the browser saw:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m tests.portal.screenshots OUTDIR", file=sys.stderr)
        sys.exit(2)
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(target)))
