"""The reads behind `opside-hub status`: users, their connections and their syncs.

Unscoped on purpose (an operator's view of every user): on PostgreSQL it sees all rows when it
connects as the role that ran the migrations, like the workers do.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import OAuthState, SyncJob, Token, User


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def recent_users(session: AsyncSession, limit: int) -> Sequence[User]:
    result = await session.scalars(
        select(User).order_by(User.last_seen_at.desc(), User.id).limit(limit)
    )
    return result.all()


async def tokens_of(session: AsyncSession, user_ids: Sequence[str]) -> Sequence[Token]:
    result = await session.scalars(select(Token).where(Token.user_id.in_(user_ids)))
    return result.all()


async def recent_syncs(session: AsyncSession, user_id: str, limit: int) -> Sequence[SyncJob]:
    result = await session.scalars(
        select(SyncJob)
        .where(SyncJob.user_id == user_id)
        .order_by(SyncJob.created_at.desc(), SyncJob.id.desc())
        .limit(limit)
    )
    return result.all()


async def sync_counts(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, int]:
    result = await session.execute(
        select(SyncJob.user_id, func.count())
        .where(SyncJob.user_id.in_(user_ids))
        .group_by(SyncJob.user_id)
    )
    return {user_id: int(count) for user_id, count in result.tuples()}


async def latest_syncs(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, SyncJob]:
    newest = (
        select(SyncJob.user_id, func.max(SyncJob.created_at).label("created_at"))
        .where(SyncJob.user_id.in_(user_ids))
        .group_by(SyncJob.user_id)
        .subquery()
    )
    result = await session.scalars(
        select(SyncJob).join(
            newest,
            (SyncJob.user_id == newest.c.user_id) & (SyncJob.created_at == newest.c.created_at),
        )
    )
    return {job.user_id: job for job in result.all()}


async def sealed_row_count(session: AsyncSession) -> int:
    """The rows `vault rotate` walks through: every token, every state holding a verifier."""
    tokens = (await session.execute(select(func.count()).select_from(Token))).scalar_one()
    states = (
        await session.execute(
            select(func.count())
            .select_from(OAuthState)
            .where(OAuthState.code_verifier_enc.is_not(None))
        )
    ).scalar_one()
    return int(tokens) + int(states)
