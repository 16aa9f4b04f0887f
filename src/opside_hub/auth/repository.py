from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import User
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert


async def get_or_create_user(session: AsyncSession, user_id: str, email: str | None) -> User:
    """Provision users on first sight: the identity provider (Supabase) owns sign-up.

    Two first requests of a new user may race; `ON CONFLICT DO NOTHING` lets both succeed.
    """
    user = await session.get(User, user_id)
    if user is None:
        now = utcnow()
        await session.execute(
            insert(session, User)
            .values(id=user_id, email=email, created_at=now, last_seen_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        user = await session.get(User, user_id)
        assert user is not None
    return user
