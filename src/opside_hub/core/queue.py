"""The job queue (SAQ on Redis) and the rule that jobs are sent only after their data commits.

Services call `defer_job(session, ...)`; the edge that owns the transaction (a request, a job)
calls `flush_after_commit(session)` once its commit succeeded. A rolled-back transaction sends
nothing, so a job can never run against rows that do not exist (STYLE habit 2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from saq import CronJob, Queue
from saq.queue.redis import RedisQueue
from saq.types import Context
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.redis import RedisServer

if TYPE_CHECKING:
    from opside_hub.runtime import Runtime

PENDING_JOBS = "opside.pending_jobs"
QUEUE = "opside.queue"


class JobContext(Context, total=False):
    """What every job receives: SAQ's context plus the process's runtime."""

    runtime: Runtime


TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Task:
    """A job the worker runs: its dotted name (`amazon.sync.reports`) and its function."""

    name: str
    function: TaskFunction


@dataclass(frozen=True)
class Schedule:
    """A cron schedule declared beside the task it runs."""

    task: Task
    cron: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_cron_job(self) -> CronJob[JobContext]:
        return CronJob(self.task.function, cron=self.cron, kwargs=self.kwargs or None, unique=True)


@dataclass(frozen=True)
class PendingJob:
    name: str
    kwargs: dict[str, Any]
    options: dict[str, Any]


def create_queue(redis: RedisServer) -> Queue:
    return RedisQueue(redis.client(), name=redis.namespace)


def defer_job(
    session: AsyncSession, name: str, /, *, job_options: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Send job `name` with `kwargs` once this session's transaction commits.

    `job_options` are SAQ's own (`key` for uniqueness, `timeout`, `retries`, `scheduled`...).
    """
    session.info.setdefault(PENDING_JOBS, []).append(
        PendingJob(name=name, kwargs=kwargs, options=job_options or {})
    )


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(PENDING_JOBS, None)


async def flush_after_commit(session: AsyncSession) -> list[str]:
    """Enqueue what the committed transaction deferred; returns the job keys sent."""
    pending: Sequence[PendingJob] = session.info.pop(PENDING_JOBS, ())
    if not pending:
        return []
    queue: Queue = session.info[QUEUE]
    sent: list[str] = []
    for job in pending:
        enqueued = await queue.enqueue(job.name, **job.options, **job.kwargs)
        if enqueued is not None:
            sent.append(enqueued.key)
    return sent
