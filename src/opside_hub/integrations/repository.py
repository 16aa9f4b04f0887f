from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import OAuthState


async def find_state(session: AsyncSession, state_hash: str) -> OAuthState | None:
    result = await session.execute(select(OAuthState).where(OAuthState.state_hash == state_hash))
    return result.scalar_one_or_none()


async def claim_state(session: AsyncSession, state_id: str, now: datetime) -> bool:
    """Mark a state used, atomically: of two concurrent callbacks only one claims it."""
    result = await session.execute(
        update(OAuthState)
        .where(OAuthState.id == state_id, OAuthState.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def purge_states(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
