"""One sync run, step by step, resumable.

A run is the `sync_jobs` row; SAQ only carries it. The run first *claims* the row (queued, or
running with a dead heartbeat), so two workers never run it at once, then beats a heartbeat
while it works. Steps run in order; each finished step is recorded in `checkpoint.done` in the
same transaction as its counts, so a run that dies resumes at the first unfinished step, and
each provider step resumes from its own cursor (`sync_checkpoints`). Inside a step, progress
callbacks are the safe points: they write progress (monotonic percent, 100 only at the end),
publish it to the seller, and stop the run when a cancellation was requested.

Steps are declared in `STEPS`: a name, the stage shown to the seller, a weight for the percent,
the provider connection it needs, and the function that does the work. The Stripe and Gmail
issues add their steps to the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from opside_hub.core.exceptions import ProviderError
from opside_hub.core.logging import get_logger
from opside_hub.db.models import SyncEvent
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.observability.metrics import count_sync_run, observe_step
from opside_hub.realtime.service import publish
from opside_hub.runtime import Runtime
from opside_hub.sync import repository
from opside_hub.sync.exceptions import SyncCancelled
from opside_hub.sync.schemas import SyncStatus, status_of
from opside_hub.vault.exceptions import NotConnected, ReauthorizationRequired

log = get_logger(__name__)

PUBLISH_EVERY_S = 0.5
CANCEL_CHECK_EVERY_S = 1.0


@dataclass
class StepContext:
    """What a step gets: the runtime, the run, and a progress callback (a safe point)."""

    runtime: Runtime
    sync_id: str
    user_id: str
    report: Callable[[float], Awaitable[None]]
    cases: Callable[[int, int], Awaitable[None]]


StepFunction = Callable[[StepContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Step:
    name: str
    stage: str
    weight: int
    provider: str | None
    run: StepFunction


@dataclass
class _Run:
    runtime: Runtime
    job_id: str
    user_id: str
    steps: list[Step]
    done: list[str]
    percent: int
    last_publish: float = 0.0
    last_cancel_check: float = field(default_factory=time.monotonic)

    def base_percent(self) -> float:
        total = sum(step.weight for step in self.steps) or 1
        finished = sum(step.weight for step in self.steps if step.name in self.done)
        return 100.0 * finished / total

    def span(self, step: Step) -> float:
        return 100.0 * step.weight / (sum(s.weight for s in self.steps) or 1)


async def run_sync(runtime: Runtime, sync_id: str, steps: list[Step]) -> str:
    """Run (or resume) sync `sync_id`; returns its final status, or "skipped" when another
    worker holds it or it is no longer runnable.

    Every log line of the run, down to the provider clients and the vault, carries `sync_id` and
    `user_id` (bound in this job's context, and inherited by the tasks it starts)."""
    with structlog.contextvars.bound_contextvars(sync_id=sync_id):
        run = await _claim(runtime, sync_id, steps)
        if isinstance(run, str):
            return run
        with structlog.contextvars.bound_contextvars(user_id=run.user_id):
            return await _execute(run)


async def _claim(runtime: Runtime, sync_id: str, steps: list[Step]) -> _Run | str:
    """Take the run and record its (re)start; a status string when there is nothing to run."""
    async with transaction(runtime.sessions) as session:
        stale_after = timedelta(seconds=runtime.settings.sync_stale_seconds)
        claimed = await repository.claim(session, sync_id, utcnow() - stale_after)
        job = await repository.get_job(session, sync_id)
        if job is None:
            return "skipped"
        if not claimed:
            if job.status == "queued" and job.cancel_requested_at is not None:
                job.status, job.stage, job.finished_at = "cancelled", "cancelled", utcnow()
                count_sync_run("cancelled")
                return "cancelled"
            return "skipped"
        applicable = [s for s in steps if s.provider is None or s.provider in (job.providers or [])]
        run = _Run(
            runtime,
            job.id,
            job.user_id,
            applicable,
            done=list((job.checkpoint or {}).get("done", [])),
            percent=job.percent,
        )
        if job.attempts > 1:
            session.add(
                SyncEvent(
                    user_id=job.user_id,
                    sync_id=job.id,
                    kind="sync.resumed",
                    stage=job.stage,
                    data={"attempt": job.attempts, "done": run.done},
                )
            )
        else:
            session.add(
                SyncEvent(
                    user_id=job.user_id, sync_id=job.id, kind="sync.started", stage="starting"
                )
            )
    return run


async def _execute(run: _Run) -> str:
    runtime, sync_id = run.runtime, run.job_id
    log.info("sync.run.started", sync_id=sync_id, user_id=run.user_id, resumed=bool(run.done))
    heartbeat = asyncio.create_task(_heartbeat(runtime, sync_id))
    try:
        for step in run.steps:
            if step.name not in run.done:
                await _run_step(run, step)
        return await _finish(run, "completed")
    except SyncCancelled:
        return await _finish(run, "cancelled")
    except (NotConnected, ReauthorizationRequired) as exc:
        # Only the seller can fix these: retrying would fail the same way.
        return await _finish(run, "failed", error=f"{exc.code}: {exc.message}")
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def fail_sync(runtime: Runtime, sync_id: str, error: str) -> None:
    """Give up on a run after its last attempt (called by the job wrapper)."""
    async with transaction(runtime.sessions) as session:
        job = await repository.get_job(session, sync_id)
        if job is None or job.status not in ("queued", "running"):
            return
        user_id = job.user_id
    run = _Run(runtime, sync_id, user_id, [], [], job.percent)
    with structlog.contextvars.bound_contextvars(sync_id=sync_id, user_id=user_id):
        await _finish(run, "failed", error=error)


async def requeue_after_error(runtime: Runtime, sync_id: str, error: str) -> None:
    """A transient failure: hand the run back to the queue state so the retry can claim it."""
    async with transaction(runtime.sessions) as session:
        job = await repository.get_job(session, sync_id)
        if job is None or job.status != "running":
            return
        job.status, job.error = "queued", error[:500]
        session.add(
            SyncEvent(
                user_id=job.user_id,
                sync_id=job.id,
                kind="sync.retrying",
                stage=job.stage,
                message=error[:500],
            )
        )


async def _run_step(run: _Run, step: Step) -> None:
    await _write(run, stage=step.stage, kind="step.started", data={"step": step.name})

    async def report(fraction: float) -> None:
        await _progress(run, step, max(0.0, min(1.0, fraction)))

    async def cases(processed: int, total: int) -> None:
        await _progress(
            run,
            step,
            processed / total if total else 1.0,
            processed_cases=processed,
            total_cases=total,
        )

    started = time.monotonic()
    outcome = "failed"
    try:
        counts = await step.run(StepContext(run.runtime, run.job_id, run.user_id, report, cases))
        outcome = "completed"
    except SyncCancelled:
        outcome = "cancelled"
        raise
    except asyncio.CancelledError:  # the worker is shutting down; the run will resume
        outcome = "interrupted"
        raise
    finally:
        observe_step(step.name, outcome, time.monotonic() - started)
    run.done.append(step.name)
    await _write(
        run,
        stage=step.stage,
        kind="step.completed",
        data={"step": step.name, "seconds": round(time.monotonic() - started, 3), **counts},
        checkpoint=True,
    )


async def _progress(
    run: _Run,
    step: Step,
    fraction: float,
    *,
    processed_cases: int | None = None,
    total_cases: int | None = None,
) -> None:
    """A safe point: maybe stop (cancelled), maybe write and publish progress."""
    now = time.monotonic()
    if now - run.last_cancel_check >= CANCEL_CHECK_EVERY_S:
        run.last_cancel_check = now
        async with run.runtime.sessions() as session:
            job = await repository.get_job(session, run.job_id)
            if job is not None and job.cancel_requested_at is not None:
                raise SyncCancelled()
    percent = min(99, int(run.base_percent() + run.span(step) * fraction))
    if now - run.last_publish < PUBLISH_EVERY_S and processed_cases is None:
        return
    if percent <= run.percent and processed_cases is None:
        return
    await _write(
        run,
        stage=step.stage,
        percent=percent,
        processed_cases=processed_cases,
        total_cases=total_cases,
    )


async def _write(
    run: _Run,
    *,
    stage: str,
    percent: int | None = None,
    kind: str | None = None,
    data: dict[str, Any] | None = None,
    processed_cases: int | None = None,
    total_cases: int | None = None,
    checkpoint: bool = False,
) -> None:
    async with transaction(run.runtime.sessions) as session:
        job = await repository.get_job(session, run.job_id)
        if job is None:
            return
        job.stage = stage
        if checkpoint:
            job.checkpoint = {**(job.checkpoint or {}), "done": list(run.done)}
            percent = min(99, int(run.base_percent()))
        if percent is not None and percent > job.percent:
            job.percent = percent
        run.percent = job.percent
        if processed_cases is not None:
            job.processed_cases = processed_cases
        if total_cases is not None:
            job.total_cases = total_cases
        job.updated_at = utcnow()
        if kind:
            session.add(
                SyncEvent(
                    user_id=job.user_id, sync_id=job.id, kind=kind, stage=stage, data=data or {}
                )
            )
        status = status_of(job)
    run.last_publish = time.monotonic()
    await _publish(run.runtime, run.user_id, "sync_progress_update", status)


async def _finish(run: _Run, status: str, *, error: str | None = None) -> str:
    async with transaction(run.runtime.sessions) as session:
        job = await repository.get_job(session, run.job_id)
        if job is None:
            return status
        job.status = status
        job.stage = status
        job.finished_at = utcnow()
        job.error = error[:1000] if error else None
        if status == "completed":
            job.percent = 100
        session.add(
            SyncEvent(
                user_id=job.user_id,
                sync_id=job.id,
                kind=f"sync.{status}",
                stage=status,
                message=error,
                data={"done": list(run.done)},
            )
        )
        final = status_of(job)
    count_sync_run(status)
    log.info("sync.run.finished", sync_id=run.job_id, status=status, error=error)
    await _publish(run.runtime, run.user_id, f"sync_{status}", final)
    return status


async def _publish(runtime: Runtime, user_id: str, event: str, status: SyncStatus) -> None:
    # Best effort by design: the database has the truth; a lost event is only a late screen.
    await publish(runtime, user_id, event, status.model_dump(mode="json", by_alias=True))


async def _heartbeat(runtime: Runtime, sync_id: str) -> None:
    # Four beats per staleness period: one lost beat never makes a live run look dead.
    interval = runtime.settings.sync_stale_seconds / 4
    while True:
        await asyncio.sleep(interval)
        try:
            async with transaction(runtime.sessions) as session:
                await repository.beat(session, sync_id)
        except Exception as exc:  # a missed beat is retried at the next tick
            log.warning("sync.heartbeat_failed", sync_id=sync_id, error_type=type(exc).__name__)


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: provider hiccups, network and database blips."""
    if isinstance(exc, ProviderError):
        return exc.status_code >= 500 or exc.status_code == 429
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError | OSError | asyncio.TimeoutError)
