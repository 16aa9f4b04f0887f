from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import SyncJob
from opside_hub.db.models.sync_job import ACTIVE_STATUSES


async def active_syncs(session: AsyncSession, user_id: str) -> Sequence[SyncJob]:
    """The user's queued and running syncs (at most one by the schema, but do not rely on it)."""
    result = await session.scalars(
        select(SyncJob)
        .where(SyncJob.user_id == user_id, SyncJob.status.in_(ACTIVE_STATUSES))
        .order_by(SyncJob.created_at)
    )
    return result.all()
