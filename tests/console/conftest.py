"""The console commands run as an operator runs them: `opside-hub ...` in a subprocess, against
a live server (its own worker in-process, a small sandbox) and the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import TEST_JWT_SECRET, LiveServer, serve_live

CLI = Path(sys.executable).parent / "opside-hub"
APPEAR_S = 5.0
SMALL_SANDBOX: dict[str, object] = {
    "run_worker_in_api": True,
    "sandbox_report_delay_seconds": 0,
    "sandbox_rate_scale": 0,
    "sandbox_amazon_reimbursements": 30,
    "sandbox_amazon_ledger_events": 30,
    "sandbox_amazon_inventory_skus": 8,
    "sandbox_amazon_financial_events": 10,
}


@pytest.fixture
async def hub(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(database_url, redis_url, **SMALL_SANDBOX) as server:
        yield server


async def opside_hub(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread, so that the live server in this event loop keeps serving."""
    base = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return await asyncio.to_thread(
        subprocess.run,
        [str(CLI), *args],
        cwd=cwd,
        env={
            **base,
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "JWT_SECRET": TEST_JWT_SECRET,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def wait_until_settled(live: LiveServer, user_id: str, timeout_s: float = 60.0) -> None:
    """Until none of the user's syncs is queued or running, and the one that connecting Amazon
    starts (from a job) has had time to appear."""
    import httpx2

    from tests.conftest import bearer

    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx2.AsyncClient(base_url=live.url) as http:
        while loop.time() < started + timeout_s:
            response = await http.get("/api/sync/history", headers=bearer(live.settings, user_id))
            syncs = response.json()["data"]
            settled = all(s["status"] not in ("queued", "running") for s in syncs)
            if settled and (syncs or loop.time() > started + APPEAR_S):
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"the syncs of {user_id} did not settle in {timeout_s} s")
