"""Sessions. Whoever opens a session owns its transaction: a request or a job, never a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from saq import Queue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from opside_hub.core.queue import QUEUE, discard_pending, flush_after_commit

SessionFactory = async_sessionmaker[AsyncSession]


def create_session_factory(engine: AsyncEngine, queue: Queue) -> SessionFactory:
    # Each session carries the queue so the edge can send the jobs deferred in its transaction.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info={QUEUE: queue})


async def scope_to_user(session: AsyncSession, user_id: str) -> None:
    """Bind the transaction to one user so PostgreSQL's row-level security applies.

    `set_config(..., true)` lasts for the current transaction only, so a pooled connection never
    carries one user's scope into another's request. SQLite has no RLS: a no-op there.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT set_config('app.user_id', :user_id, true)"), {"user_id": user_id}
        )


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and scripts: commit on success, roll back on error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            discard_pending(session)
            await session.rollback()
            raise
        await flush_after_commit(session)
