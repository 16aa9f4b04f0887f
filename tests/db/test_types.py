"""Timestamps are timezone-aware UTC on both engines; naive ones are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from opside_hub.db.models import User


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(database_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


async def test_timestamps_come_back_aware_and_in_utc(session: AsyncSession) -> None:
    paris = timezone(timedelta(hours=2))
    written = datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=paris)
    session.add(User(id="tz-user", created_at=written, last_seen_at=written))
    await session.commit()
    session.expunge_all()

    user = await session.get(User, "tz-user")

    assert user is not None
    assert user.created_at == written
    assert user.created_at.tzinfo is UTC
    assert user.created_at.hour == 12


async def test_naive_timestamps_are_refused(session: AsyncSession) -> None:
    session.add(User(id="naive", created_at=datetime(2026, 3, 1), last_seen_at=datetime.now(UTC)))  # noqa: DTZ001

    with pytest.raises(StatementError, match="naive datetime refused"):
        await session.commit()
    await session.rollback()
