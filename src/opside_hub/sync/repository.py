from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import RefundEngineCase, SyncEvent, SyncJob, Token
from opside_hub.db.types import utcnow

ACTIVE = ("queued", "running")


async def get_job(session: AsyncSession, sync_id: str) -> SyncJob | None:
    return await session.get(SyncJob, sync_id)


async def get_user_job(session: AsyncSession, user_id: str, sync_id: str) -> SyncJob | None:
    result = await session.execute(
        select(SyncJob).where(SyncJob.id == sync_id, SyncJob.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def active_job(session: AsyncSession, user_id: str) -> SyncJob | None:
    result = await session.execute(
        select(SyncJob).where(SyncJob.user_id == user_id, SyncJob.status.in_(ACTIVE))
    )
    return result.scalar_one_or_none()


async def claim(session: AsyncSession, sync_id: str, stale_before: datetime) -> bool:
    """Take the run: it is queued, or running with a heartbeat too old to be alive."""
    now = utcnow()
    result = await session.execute(
        update(SyncJob)
        .where(
            SyncJob.id == sync_id,
            SyncJob.cancel_requested_at.is_(None),
            or_(
                SyncJob.status == "queued",
                and_(SyncJob.status == "running", SyncJob.heartbeat_at < stale_before),
            ),
        )
        .values(
            status="running",
            heartbeat_at=now,
            updated_at=now,
            started_at=func.coalesce(SyncJob.started_at, now),
            attempts=SyncJob.attempts + 1,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def beat(session: AsyncSession, sync_id: str) -> bool:
    result = await session.execute(
        update(SyncJob)
        .where(SyncJob.id == sync_id, SyncJob.status == "running")
        .values(heartbeat_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def stale_jobs(
    session: AsyncSession, *, running_before: datetime, queued_before: datetime, limit: int = 100
) -> Sequence[SyncJob]:
    result = await session.execute(
        select(SyncJob)
        .where(
            or_(
                and_(SyncJob.status == "running", SyncJob.heartbeat_at < running_before),
                and_(SyncJob.status == "queued", SyncJob.updated_at < queued_before),
            )
        )
        .order_by(SyncJob.updated_at)
        .limit(limit)
    )
    return result.scalars().all()


async def history(
    session: AsyncSession, user_id: str, limit: int, after: tuple[Any, ...] | None
) -> Sequence[SyncJob]:
    query = select(SyncJob).where(SyncJob.user_id == user_id)
    if after is not None:
        query = query.where(tuple_(SyncJob.created_at, SyncJob.id) < tuple_(*after))
    result = await session.execute(
        query.order_by(SyncJob.created_at.desc(), SyncJob.id.desc()).limit(limit + 1)
    )
    return result.scalars().all()


async def recent_events(
    session: AsyncSession, sync_id: str, limit: int = 20
) -> Sequence[SyncEvent]:
    result = await session.execute(
        select(SyncEvent)
        .where(SyncEvent.sync_id == sync_id, SyncEvent.case_id.is_(None))
        .order_by(SyncEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(result.scalars().all()))


async def statistics(session: AsyncSession, user_id: str) -> dict[str, Any]:
    counts = dict(
        (
            await session.execute(
                select(SyncJob.status, func.count())
                .where(SyncJob.user_id == user_id)
                .group_by(SyncJob.status)
            )
        ).all()
    )
    finished = (
        await session.execute(
            select(SyncJob.started_at, SyncJob.finished_at).where(
                SyncJob.user_id == user_id,
                SyncJob.status == "completed",
                SyncJob.started_at.is_not(None),
                SyncJob.finished_at.is_not(None),
            )
        )
    ).all()
    last = (
        await session.execute(
            select(SyncJob)
            .where(SyncJob.user_id == user_id)
            .order_by(SyncJob.created_at.desc(), SyncJob.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    cases = (
        await session.execute(
            select(func.count())
            .select_from(RefundEngineCase)
            .where(RefundEngineCase.user_id == user_id)
        )
    ).scalar_one()
    return {
        "cases": cases,
        "counts": counts,
        "durations": [(f - s).total_seconds() for s, f in finished if s and f],
        "last": last,
    }


async def connected_users(session: AsyncSession, provider: str) -> Sequence[tuple[str, str]]:
    """(user id, connection status) of every user with a connection to `provider`."""
    result = await session.execute(
        select(Token.user_id, Token.status).where(Token.provider == provider)
    )
    return [(row.user_id, row.status) for row in result]


async def connected_providers(session: AsyncSession, user_id: str) -> list[str]:
    result = await session.execute(
        select(Token.provider).where(Token.user_id == user_id, Token.status == "active")
    )
    return sorted(result.scalars().all())
