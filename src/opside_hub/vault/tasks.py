"""Vault upkeep: keep idle connections' refresh tokens alive; purge spent OAuth states."""

from __future__ import annotations

from datetime import timedelta

from opside_hub.core.logging import get_logger
from opside_hub.core.queue import JobContext, Schedule, Task
from opside_hub.db.session import transaction
from opside_hub.integrations.service import purge_expired_states
from opside_hub.vault.service import refresh_idle_connections

log = get_logger(__name__)
STATE_RETENTION = timedelta(days=1)


async def refresh_idle(ctx: JobContext) -> dict[str, int]:
    refreshed = await refresh_idle_connections(ctx["runtime"])
    log.info("vault.keepalive.done", refreshed=refreshed)
    return {"refreshed": refreshed}


async def purge_states(ctx: JobContext) -> dict[str, int]:
    async with transaction(ctx["runtime"].sessions) as session:
        purged = await purge_expired_states(session, older_than=STATE_RETENTION)
    return {"purged": purged}


REFRESH_IDLE = Task("vault.tokens.refresh_idle", refresh_idle)
PURGE_STATES = Task("vault.states.purge", purge_states)
TASKS = [REFRESH_IDLE, PURGE_STATES]
SCHEDULES = [Schedule(REFRESH_IDLE, cron="17 * * * *"), Schedule(PURGE_STATES, cron="43 3 * * *")]
