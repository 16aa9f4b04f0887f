"""The one query behind a scrape-time gauge."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import SyncJob

ACTIVE_STATUSES = ("queued", "running")


async def active_sync_counts(session: AsyncSession) -> dict[str, int]:
    """Runs not yet ended, by status. Cheap: the partial index of active runs per user
    (`status IN ('queued', 'running')`) holds exactly these rows."""
    result = await session.execute(
        select(SyncJob.status, func.count())
        .where(SyncJob.status.in_(ACTIVE_STATUSES))
        .group_by(SyncJob.status)
    )
    counts = dict.fromkeys(ACTIVE_STATUSES, 0)
    counts.update({str(row[0]): int(row[1]) for row in result.all()})
    return counts
