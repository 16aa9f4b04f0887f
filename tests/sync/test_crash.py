"""Crash and Redis-loss recovery, with real worker processes killed by SIGKILL.

The app (and its sandbox providers) is served in the test process; workers are separate
`opside-hub worker` processes. A seller with Amazon, Gmail and Stripe connected runs a full
sync; its worker is SIGKILLed at five random points of it — a seeded draw of a progress
threshold in each fifth of the run, each with a short random delay so the kill lands inside a
step rather than on a progress write (`CRASH_SEED=<n>` replays another draw; the points are
printed) — and a fresh
worker resumes it each time (the reaper's tick re-enqueues it). The resulting rows must equal
the ones a clean, uninterrupted run of the same sandbox accounts produces: the same checksum,
the same counts (nothing lost) and as many rows as natural keys in every table (nothing
duplicated).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from opside_hub.db.models import SyncJob
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from opside_hub.sync.pipeline import run_sync
from opside_hub.sync.service import start_sync
from opside_hub.sync.steps import STEPS
from tests.conftest import LiveServer, serve_live
from tests.integrations.conftest import Seller
from tests.sync.ledger import duplicates, fingerprint, within_one_clock_hour

pytestmark = pytest.mark.slow
STALE_SECONDS = 2.0
CRASH_SEED = int(os.environ.get("CRASH_SEED", "8"))
KILLS = 5
# Progress thresholds to kill at: the whole run but its last steps' final moments, which can
# end before a poll sees them (each step's share: sync/steps.py).
KILL_PERCENTS = range(2, 92)
MAX_KILL_DELAY_S = 0.4
RUN_DEADLINE_S = 150
HOUR_MARGIN_S = 240  # the killed run and the clean one (see `within_one_clock_hour`)


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
    """Gmail and Stripe, then Amazon: its connect queues a sync of all three (trigger oauth)."""
    seller = Seller(user_id=user_id, http=http, live=live)
    for provider in ("gmail", "stripe", "amazon"):
        await seller.connect(provider)


async def _job(runtime: Runtime, user_id: str) -> SyncJob | None:
    async with runtime.sessions() as session:
        result = await session.execute(
            select(SyncJob).where(SyncJob.user_id == user_id).order_by(SyncJob.created_at.desc())
        )
        return result.scalars().first()


async def _reap_tick(runtime: Runtime) -> None:
    """What the reaper's cron does every minute, now (the test cannot wait a minute)."""
    await runtime.queue.enqueue("sync.reap", key=f"reap-{asyncio.get_running_loop().time()}")


async def _clean_run(runtime: Runtime, user_id: str) -> None:
    async with transaction(runtime.sessions) as session:
        job = await start_sync(session, user_id, providers=None, trigger="manual")
    assert await run_sync(runtime, job.id, STEPS) == "completed"


def _kill_points(seed: int) -> list[tuple[int, float]]:
    """KILLS (progress threshold, delay after reaching it) drawn from `seed`, one threshold in
    each of KILLS equal bands of KILL_PERCENTS, so the kills spread over the whole run."""
    draw = random.Random(seed)  # a reproducible schedule
    band = len(KILL_PERCENTS) // KILLS
    percents = [draw.choice(KILL_PERCENTS[i * band : (i + 1) * band]) for i in range(KILLS)]
    return [(percent, round(draw.uniform(0.0, MAX_KILL_DELAY_S), 3)) for percent in percents]


def _claimed_past(attempt: int, percent: int) -> Callable[[SyncJob], bool]:
    """Running under attempt `attempt` (or later) at `percent` or more: only a run the current
    worker has claimed is killed, so no kill hits a worker that was not running it yet."""
    return lambda job: (
        job.status == "running" and job.attempts >= attempt and job.percent >= percent
    )


async def _until(runtime: Runtime, user_id: str, ready: Callable[[SyncJob], bool]) -> SyncJob:
    """Poll the user's latest run until it is `ready` or over, ticking the reaper meanwhile
    (its cron ticks once a minute; a killed worker's run must be picked up sooner)."""
    last_tick = 0.0
    while True:
        job = await _job(runtime, user_id)
        if job is not None and (ready(job) or job.status not in ("queued", "running")):
            return job
        now = asyncio.get_running_loop().time()
        if now - last_tick >= STALE_SECONDS / 2:
            await _reap_tick(runtime)
            last_tick = now
        await asyncio.sleep(0.05)


async def test_sigkilled_workers_leave_the_same_ledger_as_a_clean_run(live: LiveServer) -> None:
    runtime: Runtime = live.app.state.runtime
    points = _kill_points(CRASH_SEED)
    print(f"\nCRASH_SEED={CRASH_SEED}: kill at (percent, delay s) {points}")
    await within_one_clock_hour(HOUR_MARGIN_S)
    kills: list[tuple[int, int]] = []  # (attempt, percent) at each kill
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await _connect(live, http, "crash-seller")
        worker = _start_worker(live)
        try:
            async with asyncio.timeout(RUN_DEADLINE_S):
                attempt = 1
                for threshold, delay in points:
                    job = await _until(runtime, "crash-seller", _claimed_past(attempt, threshold))
                    if job.status != "running":
                        break
                    await asyncio.sleep(delay)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    kills.append((job.attempts, job.percent))
                    worker = _start_worker(live)
                    attempt = job.attempts + 1
                job = await _until(runtime, "crash-seller", lambda j: False)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        await _connect(live, http, "clean-seller")

    print(f"killed at (attempt, percent) {kills}")
    assert job.status == "completed", job.error
    assert len(kills) == KILLS, f"the run ended before kill {len(kills) + 1} of {points}"
    assert job.attempts >= KILLS + 1
    assert sorted(job.providers or []) == ["amazon", "gmail", "stripe"]
    await _clean_run(runtime, "clean-seller")
    crashed = await fingerprint(runtime, "crash-seller")
    clean = await fingerprint(runtime, "clean-seller")
    assert all(count > 0 for count in clean["counts"].values()), clean["counts"]
    assert crashed["counts"] == clean["counts"]  # nothing lost
    assert set((await duplicates(runtime, "crash-seller")).values()) == {0}
    assert crashed["hashes"] == clean["hashes"]


async def test_a_sync_completes_when_redis_loses_everything_mid_run(live: LiveServer) -> None:
    """Redis comes back empty in the middle of a full sync: the queue (with the running job's
    entry), locks, quotas and cached tokens are gone; the run still completes.

    "Empty" is every key of this deployment's namespace deleted, not a restarted server or a
    FLUSHDB: the sandbox providers keep their state (grants, reports, mailboxes) in the same
    Redis, and they stand for Amazon, Google and Stripe, whose state does not vanish when ours
    does; wiping them too would test a different disaster (every provider forgetting us). The
    namespace also keeps a shared Redis (the PostgreSQL run's) safe for other test runs."""
    runtime: Runtime = live.app.state.runtime
    async with httpx2.AsyncClient(base_url=live.url) as http:
        await _connect(live, http, "flush-seller")
        worker = _start_worker(live)
        try:
            async with asyncio.timeout(240):
                while (job := await _job(runtime, "flush-seller")) is None or job.percent < 20:
                    await asyncio.sleep(0.05)
                # Redis restarted empty: every key of this deployment is gone (queue, locks,
                # quotas). The sandbox providers' own state stands for theirs and survives.
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
    assert sorted(job.providers or []) == ["amazon", "gmail", "stripe"]
    assert set((await duplicates(runtime, "flush-seller")).values()) == {0}
