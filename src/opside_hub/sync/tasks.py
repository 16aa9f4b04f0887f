"""Sync jobs: the run itself, starting runs (OAuth, schedules), and the reaper.

Schedules fan out per connected user (Amazon hourly, Stripe every 30 minutes, Gmail every 15)
and never overlap a running sync: the start is refused by the one-active-sync-per-user index.
Connections that need re-authorization are skipped, and said so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

from opside_hub.core.logging import get_logger
from opside_hub.core.queue import JobContext, Schedule, Task
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.sync import repository
from opside_hub.sync.exceptions import NothingToSync, SyncAlreadyRunning
from opside_hub.sync.pipeline import fail_sync, is_transient, requeue_after_error, run_sync
from opside_hub.sync.service import RUN_JOB, RUN_JOB_OPTIONS, start_sync
from opside_hub.sync.steps import STEPS

log = get_logger(__name__)
SAQ_HEARTBEAT_S = 30.0
REAP_QUEUED_AFTER = timedelta(minutes=5)


async def run(ctx: JobContext, *, sync_id: str) -> str:
    runtime, job = ctx["runtime"], ctx["job"]
    beating = asyncio.create_task(_saq_heartbeat(ctx))
    try:
        return await run_sync(runtime, sync_id, STEPS)
    except asyncio.CancelledError:
        # The worker is shutting down: hand the run back so the next worker resumes it.
        await asyncio.shield(requeue_after_error(runtime, sync_id, "worker stopped"))
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if is_transient(exc) and job.retryable:
            log.warning("sync.run.retrying", sync_id=sync_id, attempt=job.attempts, error=error)
            await requeue_after_error(runtime, sync_id, error)
            raise
        log.exception("sync.run.failed", sync_id=sync_id)
        await fail_sync(runtime, sync_id, error)
        return "failed"
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _saq_heartbeat(ctx: JobContext) -> None:
    """SAQ's own liveness signal: a job that stops beating is retried by its sweeper."""
    while True:
        await asyncio.sleep(SAQ_HEARTBEAT_S)
        with contextlib.suppress(Exception):
            await ctx["job"].update()


async def start_for_user(
    ctx: JobContext, *, user_id: str, trigger: str = "oauth", providers: list[str] | None = None
) -> str | None:
    async with transaction(ctx["runtime"].sessions) as session:
        try:
            job = await start_sync(session, user_id, providers=providers, trigger=trigger)
        except (SyncAlreadyRunning, NothingToSync) as exc:
            log.info("sync.start.skipped", user_id=user_id, trigger=trigger, reason=exc.code)
            return None
        return job.id


async def _schedule(ctx: JobContext, provider: str) -> dict[str, int]:
    runtime = ctx["runtime"]
    async with runtime.sessions() as session:
        users = await repository.connected_users(session, provider)
    started = skipped = 0
    for user_id, status in users:
        if status != "active":
            log.info("sync.schedule.skipped", user_id=user_id, provider=provider, reason=status)
            skipped += 1
            continue
        if await start_for_user(ctx, user_id=user_id, trigger="schedule", providers=[provider]):
            started += 1
        else:
            skipped += 1
    log.info("sync.schedule.fanned_out", provider=provider, started=started, skipped=skipped)
    return {"started": started, "skipped": skipped}


async def schedule_amazon(ctx: JobContext) -> dict[str, int]:
    return await _schedule(ctx, "amazon")


async def schedule_stripe(ctx: JobContext) -> dict[str, int]:
    return await _schedule(ctx, "stripe")


async def schedule_gmail(ctx: JobContext) -> dict[str, int]:
    return await _schedule(ctx, "gmail")


async def reap(ctx: JobContext) -> dict[str, Any]:
    """Re-enqueue runs whose worker vanished or whose queue entry was lost (Redis restarted
    empty). Nothing in Redis is needed: the database says what should be running."""
    runtime = ctx["runtime"]
    now = utcnow()
    async with transaction(runtime.sessions) as session:
        running_after = timedelta(seconds=runtime.settings.sync_stale_seconds * 1.5)
        stale = await repository.stale_jobs(
            session, running_before=now - running_after, queued_before=now - REAP_QUEUED_AFTER
        )
        for job in stale:
            job.updated_at = now
        ids = [job.id for job in stale]
    for sync_id in ids:
        # A fresh key each time: the database lease keeps duplicates from running twice.
        await runtime.queue.enqueue(
            RUN_JOB,
            sync_id=sync_id,
            **{**RUN_JOB_OPTIONS, "key": f"sync:{sync_id}:reap:{time.time()}"},
        )
        log.warning("sync.reaped", sync_id=sync_id)
    return {"reaped": len(ids)}


RUN = Task(RUN_JOB, run)
START_FOR_USER = Task("sync.start_for_user", start_for_user)
SCHEDULE_AMAZON = Task("sync.schedule.amazon", schedule_amazon)
SCHEDULE_STRIPE = Task("sync.schedule.stripe", schedule_stripe)
SCHEDULE_GMAIL = Task("sync.schedule.gmail", schedule_gmail)
REAP = Task("sync.reap", reap)
TASKS = [RUN, START_FOR_USER, SCHEDULE_AMAZON, SCHEDULE_STRIPE, SCHEDULE_GMAIL, REAP]
SCHEDULES = [
    Schedule(SCHEDULE_AMAZON, cron="5 * * * *"),
    Schedule(SCHEDULE_STRIPE, cron="*/30 * * * *"),
    Schedule(SCHEDULE_GMAIL, cron="*/15 * * * *"),
    Schedule(REAP, cron="* * * * *"),
]
