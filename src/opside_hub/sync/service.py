"""Starting, reading and cancelling syncs. One queued/running sync per user, enforced twice:
the partial unique index on `sync_jobs` (the truth) and the SAQ job key (no duplicate jobs)."""

from __future__ import annotations

import statistics as stats
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import BadRequest
from opside_hub.core.pagination import PageParams, cursor_datetime, encode_cursor
from opside_hub.core.queue import defer_job
from opside_hub.core.schemas import Page, PageMeta
from opside_hub.db.models import SyncEvent, SyncJob
from opside_hub.db.types import utcnow
from opside_hub.observability.metrics import count_sync_run
from opside_hub.sync import repository
from opside_hub.sync.exceptions import (
    NothingToSync,
    SyncAlreadyRunning,
    SyncNotFinished,
    SyncNotFound,
)
from opside_hub.sync.schemas import SyncStatistics, SyncStatus, status_of

RUN_JOB = "sync.run"
PROVIDERS = ("amazon", "stripe", "gmail")
# A sync may run for hours on a large backfill; SAQ's liveness is the heartbeat, not a timeout.
RUN_JOB_OPTIONS: dict[str, Any] = {
    "timeout": 0,
    "heartbeat": 120,
    "retries": 4,
    "retry_delay": 5.0,
    "retry_backoff": 300.0,
    "ttl": 3600,
}


def run_job_options(job: SyncJob) -> dict[str, Any]:
    # A new key per attempt: a finished SAQ job keeps its key for a while and would swallow a
    # re-enqueue; the database lease stops two attempts from running at once.
    return {**RUN_JOB_OPTIONS, "key": f"sync:{job.id}:{job.attempts}"}


async def start_sync(
    session: AsyncSession,
    user_id: str,
    *,
    providers: list[str] | None,
    trigger: str,
) -> SyncJob:
    connected = await repository.connected_providers(session, user_id)
    wanted = [p for p in (providers or PROVIDERS) if p in connected]
    if not wanted:
        raise NothingToSync(details={"connected": connected})
    if running := await repository.active_job(session, user_id):
        raise SyncAlreadyRunning(running.id)
    job = SyncJob(
        user_id=user_id,
        trigger=trigger,
        providers=wanted,
        status="queued",
        stage="queued",
        percent=0,
        checkpoint={},
    )
    try:
        async with session.begin_nested():
            session.add(job)
            await session.flush()
    except IntegrityError as exc:
        # Lost a race with a concurrent start: the unique index decided.
        running = await repository.active_job(session, user_id)
        raise SyncAlreadyRunning(running.id if running else "") from exc
    session.add(
        SyncEvent(
            user_id=user_id,
            sync_id=job.id,
            kind="sync.queued",
            stage="queued",
            actor=trigger,
            data={"providers": wanted},
        )
    )
    defer_job(session, RUN_JOB, sync_id=job.id, job_options=run_job_options(job))
    return job


async def get_status(session: AsyncSession, user_id: str, sync_id: str) -> SyncStatus:
    job = await repository.get_user_job(session, user_id, sync_id)
    if job is None:
        raise SyncNotFound()
    return status_of(job, await audit_of(session, job.id))


async def audit_of(session: AsyncSession, sync_id: str) -> list[dict[str, Any]]:
    return [
        {
            "at": event.created_at.isoformat(),
            "kind": event.kind,
            "stage": event.stage,
            "message": event.message,
            "data": event.data,
        }
        for event in await repository.recent_events(session, sync_id)
    ]


async def cancel(session: AsyncSession, user_id: str, sync_id: str) -> SyncStatus:
    """Queued runs stop now; running ones at their next safe point (between batches)."""
    job = await repository.get_user_job(session, user_id, sync_id)
    if job is None:
        raise SyncNotFound()
    if job.status not in ("queued", "running"):
        raise SyncNotFinished(details={"status": job.status})
    now = utcnow()
    job.cancel_requested_at = job.cancel_requested_at or now
    if job.status == "queued":
        job.status, job.stage, job.finished_at = "cancelled", "cancelled", now
        count_sync_run("cancelled")  # it never reaches the pipeline, which counts the others
    session.add(
        SyncEvent(
            user_id=user_id,
            sync_id=job.id,
            kind="sync.cancel_requested",
            stage=job.stage,
            actor="user",
        )
    )
    await session.flush()
    return status_of(job, await audit_of(session, job.id))


async def history_page(session: AsyncSession, user_id: str, page: PageParams) -> Page[SyncStatus]:
    after = None
    if page.after is not None:
        at = cursor_datetime(page.after[0])
        if at is None or len(page.after) != 2:
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        after = (at, str(page.after[1]))
    jobs = await repository.history(session, user_id, page.limit, after)
    items = [status_of(job) for job in jobs[: page.limit]]
    next_cursor = None
    if len(jobs) > page.limit:
        last = jobs[page.limit - 1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return Page(data=items, meta=PageMeta(next_cursor=next_cursor))


async def get_statistics(session: AsyncSession, user_id: str) -> SyncStatistics:
    raw = await repository.statistics(session, user_id)
    counts: dict[str, int] = raw["counts"]
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    durations: list[float] = raw["durations"]
    last: SyncJob | None = raw["last"]
    return SyncStatistics(
        total=sum(counts.values()),
        successful=counts.get("completed", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        running=counts.get("running", 0) + counts.get("queued", 0),
        success_rate=round(counts.get("completed", 0) / finished, 4) if finished else None,
        average_duration_seconds=round(stats.fmean(durations), 3) if durations else None,
        last_sync=status_of(last) if last else None,
        total_cases=raw["cases"],
    )
