"""Jobs are sent only after the transaction that created their work commits (STYLE habit 2)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from opside_hub.api.deps import get_session
from opside_hub.core.queue import defer_job
from opside_hub.db.models import User
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.runtime import Runtime


def _user(user_id: str) -> User:
    return User(id=user_id, created_at=utcnow(), last_seen_at=utcnow())


async def _queued(runtime: Runtime) -> list[tuple[str, dict[str, object]]]:
    info = await runtime.queue.info(jobs=True)
    return sorted((job["function"], job["kwargs"]) for job in info["jobs"])


async def test_a_rolled_back_transaction_enqueues_nothing(runtime: Runtime) -> None:
    async def change_of_mind() -> None:
        async with transaction(runtime.sessions) as session:
            session.add(_user("rolled-back"))
            defer_job(session, "system.ping", message="never")
            await session.flush()
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await change_of_mind()

    assert await runtime.queue.count("queued") == 0
    async with runtime.sessions() as session:
        assert await session.get(User, "rolled-back") is None


async def test_a_committed_transaction_enqueues_exactly_once(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        session.add(_user("committed"))
        defer_job(session, "system.ping", message="after commit")
        # Deferred, not sent: nothing is queued while the transaction is open.
        assert await runtime.queue.count("queued") == 0

    assert await runtime.queue.count("queued") == 1
    assert await _queued(runtime) == [("system.ping", {"message": "after commit"})]
    async with runtime.sessions() as session:
        assert await session.get(User, "committed") is not None


async def test_a_failed_commit_enqueues_nothing(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        session.add(_user("taken"))

    async def duplicate() -> None:
        async with transaction(runtime.sessions) as session:
            session.add(_user("taken"))
            defer_job(session, "system.ping", message="never")

    with pytest.raises(IntegrityError):
        await duplicate()

    assert await runtime.queue.count("queued") == 0


async def test_a_job_key_makes_the_send_idempotent(runtime: Runtime) -> None:
    for _ in range(2):
        async with transaction(runtime.sessions) as session:
            defer_job(session, "system.ping", job_options={"key": "ping:once"}, message="once")

    assert await runtime.queue.count("queued") == 1


async def test_the_request_session_sends_only_after_its_commit(runtime: Runtime) -> None:
    # `get_session` is the request's edge; FastAPI runs it as this context manager, throwing
    # the handler's exception into it.
    request_session = asynccontextmanager(get_session)

    async def failing_request() -> None:
        async with request_session(runtime) as session:
            session.add(_user("request-failed"))
            defer_job(session, "system.ping", message="never")
            raise ValueError("handler failed")

    with pytest.raises(ValueError, match="handler failed"):
        await failing_request()
    assert await runtime.queue.count("queued") == 0

    async with request_session(runtime) as session:
        session.add(_user("request-ok"))
        defer_job(session, "system.ping", message="sent")
        assert await runtime.queue.count("queued") == 0

    assert await _queued(runtime) == [("system.ping", {"message": "sent"})]
    async with runtime.sessions() as check:
        users = (await check.scalars(select(User.id).order_by(User.id))).all()
    assert users == ["request-ok"]
