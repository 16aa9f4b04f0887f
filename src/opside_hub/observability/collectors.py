"""Gauges read at scrape time: queue depth from Redis, active sync runs from the database.

They are refreshed by the `/metrics` handler just before it renders the registry, each source
under a short timeout and all failures swallowed: a scrape never fails (and never waits long)
because Redis or the database is down. A source that could not be read has its gauges removed
from that scrape, not left at a stale value, and `opside_hub_metrics_source_up{source}` says 0.

A separate worker process serves no such gauges: they describe shared state (one queue, one
database), which any API process's `/metrics` already reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge
from saq.types import CountKind

from opside_hub.core.logging import get_logger
from opside_hub.observability import repository
from opside_hub.observability.metrics import QUEUE_JOBS, SCRAPE_SOURCE_UP, SYNC_RUNS_ACTIVE
from opside_hub.runtime import Runtime

log = get_logger(__name__)
SOURCE_TIMEOUT_S = 1.0
QUEUE_STATES: tuple[CountKind, ...] = ("queued", "active")


async def refresh_scrape_gauges(runtime: Runtime, timeout_s: float = SOURCE_TIMEOUT_S) -> None:
    async def queue_depth() -> dict[str, int]:
        return {state: await runtime.queue.count(state) for state in QUEUE_STATES}

    async def active_syncs() -> dict[str, int]:
        async with runtime.sessions() as session:
            return await repository.active_sync_counts(session)

    await asyncio.gather(
        _refresh("queue", QUEUE_JOBS, queue_depth, timeout_s),
        _refresh("database", SYNC_RUNS_ACTIVE, active_syncs, timeout_s),
    )


async def _refresh(
    source: str, gauge: Gauge, read: Callable[[], Awaitable[dict[str, int]]], timeout_s: float
) -> None:
    try:
        values = await asyncio.wait_for(read(), timeout_s)
    except Exception as exc:  # any failure means "unknown now"; the scrape itself goes on
        log.warning("metrics.source_unavailable", source=source, error_type=type(exc).__name__)
        gauge.clear()
        SCRAPE_SOURCE_UP.labels(source).set(0)
        return
    for label, value in values.items():
        gauge.labels(label).set(value)
    SCRAPE_SOURCE_UP.labels(source).set(1)
