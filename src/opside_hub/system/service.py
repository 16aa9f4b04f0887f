"""Readiness checks, and a ping that makes a round trip through the queue and a worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from saq.queue.base import JobError
from sqlalchemy import text

from opside_hub import __version__
from opside_hub.core.exceptions import ServiceUnavailable
from opside_hub.core.logging import get_logger
from opside_hub.runtime import Runtime
from opside_hub.system.schemas import CheckStatus, Health, Ping
from opside_hub.system.tasks import PING

log = get_logger(__name__)
CHECK_TIMEOUT_S = 2.0
PING_TIMEOUT_S = 10.0
PING_POLL_S = 0.05


async def check_health(runtime: Runtime) -> Health:
    async def database() -> None:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def redis() -> None:
        await runtime.redis.ping()

    async def queue() -> None:
        await runtime.queue.count("queued")

    names = ("database", "redis", "queue")
    results = await asyncio.gather(
        *(_probe(name, check) for name, check in zip(names, (database, redis, queue), strict=True))
    )
    checks = dict(zip(names, results, strict=True))
    status = "ok" if all(result == "ok" for result in results) else "degraded"
    return Health(status=status, version=__version__, checks=checks)


async def _probe(name: str, check: Callable[[], Awaitable[None]]) -> CheckStatus:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "down"; the reason goes to the log
        log.warning("health.check_failed", check=name, error_type=type(exc).__name__)
        return "down"
    return "ok"


async def ping_worker(runtime: Runtime, message: str, *, wait_s: float = PING_TIMEOUT_S) -> Ping:
    """Send `system.ping` and wait for a worker's answer.

    No answer within `wait_s` means no worker is consuming the queue: the job is aborted (so a
    worker that starts later does not run a ping nobody waits for) and the caller gets a 503.
    """
    key = f"{PING.name}:{uuid.uuid4().hex}"
    try:
        result = await runtime.queue.apply(
            PING.name, timeout=wait_s, poll_interval=PING_POLL_S, key=key, message=message
        )
    except TimeoutError as exc:
        await _abandon(runtime, key)
        raise ServiceUnavailable(
            f"No worker answered within {wait_s:g} s.", code="worker_unavailable"
        ) from exc
    except JobError as exc:
        log.warning("system.ping.failed", status=str(exc.job.status))
        raise ServiceUnavailable("The worker failed the ping.", code="worker_failed") from exc
    except RedisError as exc:
        log.warning("system.ping.queue_down", error_type=type(exc).__name__)
        raise ServiceUnavailable("The queue is unavailable.", code="queue_unavailable") from exc
    if result is None:  # the job vanished from Redis (flushed or restarted) while we waited
        raise ServiceUnavailable("The ping was lost by the queue.", code="queue_unavailable")
    return Ping.model_validate(result)


async def _abandon(runtime: Runtime, key: str) -> None:
    try:
        job = await runtime.queue.job(key)
        if job is not None and not job.completed:
            await runtime.queue.abort(job, "no worker answered")
    except RedisError as exc:  # the 503 stands; the job then expires with its TTL
        log.warning("system.ping.abort_failed", error_type=type(exc).__name__)
