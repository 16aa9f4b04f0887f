"""Readiness checks: each dependency answers within a short timeout or counts as down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from opside_hub import __version__
from opside_hub.core.logging import get_logger
from opside_hub.runtime import Runtime
from opside_hub.system.schemas import CheckStatus, Health

log = get_logger(__name__)
CHECK_TIMEOUT_S = 2.0


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
