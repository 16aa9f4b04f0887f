"""Crash and Redis-loss recovery, with real worker processes killed by SIGKILL.

The app (and its sandbox providers) is served in the test process; workers are separate
`opside-hub worker` processes. A seller's sync is killed at several points, resumed each time by
a fresh worker (the reaper's tick re-enqueues it), and the resulting ledger must equal the one a
clean, uninterrupted run of the same sandbox seller produces: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonLedgerEvent,
    AmazonReimbursement,
    RefundEngineCase,
    SyncJob,
)
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from opside_hub.sync.pipeline import run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from tests.conftest import LiveServer, serve_live
from tests.integrations.conftest import Seller
from tests.sandbox.helpers import press

pytestmark = pytest.mark.slow
SELLER_NAME = "Crash Goods"
STALE_SECONDS = 2.0


@pytest.fixture
async def live(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(
        database_url,
        redis_url,
        sandbox_report_delay_seconds=0.3,
        sandbox_rate_scale=0.0,
        sandbox_amazon_reimbursements=2500,
        sandbox_amazon_ledger_events=4000,
        sync_stale_seconds=STALE_SECONDS,
    ) as server:
        yield server


def _worker_env(live: LiveServer) -> dict[str, str]:
    settings = live.settings
    return {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": settings.db.url,
        "REDIS_URL": settings.redis.url,
        "REDIS_NAMESPACE": settings.redis.namespace,
        "JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
        "ENCRYPTION_KEY": settings.vault.encryption_key.get_secret_value(),
        "PUBLIC_URL": live.url,
        "PROVIDER_MODE": "sandbox",
        "SYNC_STALE_SECONDS": str(STALE_SECONDS),
        "LOG_LEVEL": "WARNING",
    }


def _start_worker(live: LiveServer) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "opside_hub.cli", "worker", "--concurrency", "2"],
        env=_worker_env(live),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )


async def _connect(live: LiveServer, http: httpx2.AsyncClient, user_id: str) -> None:
    seller = Seller(user_id=user_id, http=http, live=live)
    auth_url = (await seller.start("amazon"))["authUrl"]
    page = await http.get(auth_url)
    approved = await press(http, live, page, "approve", SELLER_NAME)
    done = await seller.callback(approved.headers["location"])
    assert done.status_code == 200, done.text


async def _job(runtime: Runtime, user_id: str) -> SyncJob | None:
    async with runtime.sessions() as session:
        result = await session.execute(
            select(SyncJob).where(SyncJob.user_id == user_id).order_by(SyncJob.created_at.desc())
        )
        return result.scalars().first()


async def _fingerprint(runtime: Runtime, user_id: str) -> dict[str, Any]:
    """Everything the sync produced for a user, keyed by natural keys (ids excluded)."""
    async with runtime.sessions() as session:
        raw = {}
        for model in (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent):
            rows = (
                await session.execute(
                    select(model.row_key, model.raw).where(model.user_id == user_id)
                )
            ).all()
            raw[model.__tablename__] = sorted(
                (key, json.dumps(value, sort_keys=True)) for key, value in rows
            )
        cases = (
            await session.execute(
                select(
                    RefundEngineCase.claim_id,
                    RefundEngineCase.case_status,
                    RefundEngineCase.normalized_data,
                ).where(RefundEngineCase.user_id == user_id)
            )
        ).all()
    digest = {name: hashlib.sha256(repr(rows).encode()).hexdigest() for name, rows in raw.items()}
    return {
        "counts": {name: len(rows) for name, rows in raw.items()} | {"cases": len(cases)},
        "raw": digest,
        "cases": hashlib.sha256(
            repr(
                sorted(
                    (c.claim_id, c.case_status, json.dumps(c.normalized_data, sort_keys=True))
                    for c in cases
                )
            ).encode()
        ).hexdigest(),
    }


async def _reap_tick(runtime: Runtime) -> None:
    """What the reaper's cron does every minute, now (the test cannot wait a minute)."""
    await runtime.queue.enqueue("sync.reap", key=f"reap-{asyncio.get_running_loop().time()}")


async def _clean_run(runtime: Runtime, user_id: str) -> None:
    async with transaction(runtime.sessions) as session:
        job = await start_sync(session, user_id, providers=["amazon"], trigger="manual")
    assert await run_sync(runtime, job.id, STEPS) == "completed"


async def test_sigkilled_workers_leave_the_same_ledger_as_a_clean_run(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    kills = 0
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await _connect(live, http, "crash-seller")  # queues the first sync (trigger oauth)
        worker = _start_worker(live)
        try:
            async with asyncio.timeout(240):
                for threshold in (15, 45, 75):  # kill at three points of the run
                    while True:
                        job = await _job(runtime, "crash-seller")
                        if job is not None and job.status == "running" and job.percent >= threshold:
                            break
                        if job is not None and job.status in ("completed", "failed"):
                            break
                        await asyncio.sleep(0.05)
                    if job is not None and job.status != "running":
                        break
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    kills += 1
                    worker = _start_worker(live)
                    await asyncio.sleep(STALE_SECONDS * 1.6)
                    await _reap_tick(runtime)
                while (job := await _job(runtime, "crash-seller")) is None or job.status in (
                    "queued",
                    "running",
                ):
                    await asyncio.sleep(0.2)
                    if job is not None and job.status == "running":
                        await _reap_tick(runtime)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        await _connect(live, http, "clean-seller")

    assert kills >= 2
    assert job.status == "completed", job.error
    assert job.attempts > 1
    await _clean_run(runtime, "clean-seller")
    crashed = await _fingerprint(runtime, "crash-seller")
    clean = await _fingerprint(runtime, "clean-seller")
    assert crashed["counts"] == clean["counts"]
    assert crashed == clean


async def test_a_sync_completes_when_redis_loses_everything_mid_run(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await _connect(live, http, "flush-seller")
        worker = _start_worker(live)
        try:
            async with asyncio.timeout(240):
                while (job := await _job(runtime, "flush-seller")) is None or job.percent < 20:
                    await asyncio.sleep(0.05)
                # Redis restarted empty: every key of this deployment is gone (queue, locks,
                # quotas). The sandbox provider's own state stands for Amazon's and survives.
                namespace = live.settings.redis.namespace
                async for key in runtime.redis.scan_iter(match=f"*{namespace}*"):
                    if not key.decode().startswith(f"{namespace}:sandbox:"):
                        await runtime.redis.delete(key)
                while (job := await _job(runtime, "flush-seller")) is None or job.status in (
                    "queued",
                    "running",
                ):
                    await asyncio.sleep(0.2)
                    await _reap_tick(runtime)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    assert job.status == "completed", job.error
    assert job.percent == 100
