"""Typed dependency aliases: `RuntimeDep`, `SettingsDep`, `SessionDep`, `CurrentUser`.

The request owns its transaction: `SessionDep` commits after the handler returns (before the
response is sent: scope="function"), then sends the jobs the transaction deferred; any error
rolls back and sends nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.auth.exceptions import InvalidToken
from opside_hub.auth.repository import get_or_create_user
from opside_hub.auth.service import decode_user_token
from opside_hub.config import Settings
from opside_hub.core.queue import discard_pending, flush_after_commit
from opside_hub.db.models import User
from opside_hub.db.session import scope_to_user
from opside_hub.runtime import Runtime


# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def` in the
# thread pool, a thread hop per request for a dictionary lookup.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        try:
            yield session
        except BaseException:
            discard_pending(session)
            await session.rollback()
            raise
        await session.commit()
        await flush_after_commit(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="A user JWT (HS256, user id in `sub`).")


async def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise InvalidToken("A bearer token is required.", code="token_missing")
    claims = decode_user_token(credentials.credentials, settings.auth)
    await scope_to_user(session, claims.user_id)
    return await get_or_create_user(session, claims.user_id, claims.email)


CurrentUser = Annotated[User, Depends(get_current_user)]
