"""Per-(user, dataset) cursors: where the next sync of a dataset picks up."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import SyncCheckpoint
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert


async def get_checkpoint(session: AsyncSession, user_id: str, dataset: str) -> dict[str, Any]:
    row = await session.get(SyncCheckpoint, (user_id, dataset))
    return dict(row.cursor) if row else {}


async def save_checkpoint(
    session: AsyncSession, user_id: str, dataset: str, cursor: dict[str, Any]
) -> None:
    statement = insert(session, SyncCheckpoint).values(
        user_id=user_id, dataset=dataset, cursor=cursor, updated_at=utcnow()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "dataset"],
            set_={"cursor": statement.excluded.cursor, "updated_at": statement.excluded.updated_at},
        )
    )
