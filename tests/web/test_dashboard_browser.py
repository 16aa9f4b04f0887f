"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against the live app.

A seller signs in as the demo user, connects the three sandbox providers by clicking through
their consent pages, starts a sync, watches the bar reach 100% from WebSocket events and the
cases arrive. The page runs under the app's real CSP: any violation is a console error, and the
test fails on console errors. The screenshot is saved as `artifacts/dashboard.png`.

Playwright's own browser downloads are impossible here (and never needed): `.ci/run` installs
Debian's `chromium`; without it this test is skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import LiveServer, bearer, repo_root, serve_live

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = repo_root() / "artifacts" / "dashboard.png"
# Guards against a hang; the sync itself takes a few seconds on this data.
TEST_GUARD_S = 240
STEP_TIMEOUT_MS = 60_000
SETTLE_S = 60.0
APPEAR_S = 5.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (.ci/run installs it: "
    "apt-get install -y chromium chromium-driver)",
)

SMALL_SANDBOX: dict[str, object] = {
    "run_worker_in_api": True,
    "sandbox_report_delay_seconds": 0,
    "sandbox_rate_scale": 0,
    "sandbox_amazon_reimbursements": 40,
    "sandbox_amazon_ledger_events": 40,
    "sandbox_amazon_inventory_skus": 12,
    "sandbox_amazon_financial_events": 20,
}


@pytest.fixture
async def dashboard_server(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(database_url, redis_url, **SMALL_SANDBOX) as server:
        yield server


async def test_a_seller_connects_syncs_and_sees_cases(dashboard_server: LiveServer) -> None:
    from playwright.async_api import async_playwright, expect

    live = dashboard_server
    console_errors: list[str] = []
    frames: list[dict[str, Any]] = []

    async with asyncio.timeout(TEST_GUARD_S), async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
            )
            page = await context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            expect.set_options(timeout=STEP_TIMEOUT_MS)
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: console_errors.append(str(error)))

            def record(socket: Any) -> None:
                socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

            page.on("websocket", record)

            # Sign in.
            await page.goto(live.url + "/")
            await page.get_by_role("button", name="Sign in as demo seller").click()
            await expect(page.locator("#user-id")).to_have_text("demo")
            await expect(page.locator("#live")).to_have_attribute("data-state", "online")

            # Connect the three sandbox providers through their consent pages.
            for provider, name in (("amazon", "Amazon"), ("gmail", "Gmail"), ("stripe", "Stripe")):
                card = page.locator(f'.connection[data-provider="{provider}"]')
                await card.get_by_role("button", name="Connect").click()
                await page.wait_for_url("**/sandbox/**")
                await page.get_by_role("button", name="Approve").click()
                await page.wait_for_url(live.url + "/")  # back, the result read and removed
                await expect(page.locator("#notice")).to_contain_text(f"{name}")
                await expect(page.locator("#notice")).to_contain_text("connected.")
                await expect(card.locator(".state")).to_have_text("Connected")
                if provider == "amazon":
                    # Connecting Amazon starts a first sync on its own (trigger "oauth"). Let it
                    # finish: its "Sync completed" notice would replace the next provider's
                    # "connected" one, and the button below must start a sync of its own.
                    await _wait_until_syncs_settle(live, "demo")

            # Sync, fed by the WebSocket.
            await page.get_by_role("button", name="Sync now").click()
            history = page.locator("#history tbody tr")
            await expect(history.first).to_contain_text("manual")
            await expect(history.first).to_contain_text("completed")
            progress = page.locator("#sync-progress")
            await expect(progress).to_have_attribute("data-status", "completed")
            await expect(progress).to_have_attribute("data-source", "ws")
            assert await progress.evaluate("element => element.value") == 100
            await expect(page.locator("#sync-percent")).to_have_text("100%")
            await expect(page.locator("#notice")).to_contain_text("Sync completed")

            # Cases, history, statistics, chart.
            rows = page.locator("#cases tbody tr")
            await expect(rows.first).to_be_visible()
            assert await rows.count() == 10
            await expect(page.locator("#cases-next")).to_be_enabled()
            await page.locator("#cases-next").click()
            await expect(page.locator("#cases-page")).to_have_text("Page 2")
            await page.locator("#cases-prev").click()
            await expect(page.locator("#cases-page")).to_have_text("Page 1")
            await expect(page.locator("#stat-total")).to_have_text(str(await history.count()))
            await expect(page.locator("#stat-rate")).to_have_text("100%")
            await expect(page.locator("#chart svg rect.bar").first).to_be_attached()

            # The token stays in sessionStorage and out of the address bar.
            token = await page.evaluate("sessionStorage.getItem('opside.hub.token')")
            assert token
            assert token not in page.url
            assert "?" not in page.url
            assert "#" not in page.url

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            await browser.close()

    events = [frame.get("event") for frame in frames]
    progress_updates = [
        frame["data"]["percent"] for frame in frames if frame.get("event") == "sync_progress_update"
    ]
    assert "connected" in events
    assert "sync_completed" in events
    assert progress_updates
    assert min(progress_updates) < 100  # the bar moved through the stages
    assert console_errors == []  # CSP violations and script errors land here


async def _wait_until_syncs_settle(live: LiveServer, user_id: str) -> None:
    """Until none of the user's syncs is queued or running, and the one a connection starts
    (if any) has had time to appear (at most SETTLE_S)."""
    headers = bearer(live.settings, user_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx2.AsyncClient(base_url=live.url) as http:
        while loop.time() < started + SETTLE_S:
            response = await http.get("/api/sync/history", headers=headers)
            syncs = response.json()["data"]
            settled = all(sync["status"] not in ("queued", "running") for sync in syncs)
            if settled and (syncs or loop.time() > started + APPEAR_S):
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"the syncs of {user_id} did not settle in {SETTLE_S} s: {syncs}")


async def test_a_token_handed_over_in_the_fragment_signs_in_and_leaves_the_url(
    dashboard_server: LiveServer,
) -> None:
    """The production hand-off: the Opside frontend opens `/#token=<JWT>`."""
    from playwright.async_api import async_playwright, expect

    from opside_hub.auth.service import create_user_token

    live = dashboard_server
    token = create_user_token("handed-over", live.settings.auth)
    async with asyncio.timeout(TEST_GUARD_S), async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{live.url}/#token={token}")
            await expect(page.locator("#user-id")).to_have_text("handed-over")
            assert page.url == live.url + "/"
            stored = await page.evaluate("sessionStorage.getItem('opside.hub.token')")
            assert stored == token
            await expect(page.locator(".connection .state").first).to_have_text("Not connected")

            # A refused consent comes back as an error the page announces, then forgets.
            gmail = page.locator('.connection[data-provider="gmail"]')
            await gmail.get_by_role("button", name="Connect").click()
            await page.wait_for_url("**/sandbox/**")
            await page.get_by_role("button", name="Deny").click()
            await page.wait_for_url(live.url + "/")
            await expect(page.locator("#notice")).to_have_text(
                "Gmail was not connected (access_denied)."
            )
            await expect(gmail.locator(".state")).to_have_text("Not connected")
            assert page.url == live.url + "/"

            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_role("button", name="Sign in as demo seller")).to_be_visible()
            assert await page.evaluate("sessionStorage.getItem('opside.hub.token')") is None
        finally:
            await browser.close()
