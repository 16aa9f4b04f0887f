"""Helpers for the realtime tests: real WebSocket clients (`websockets`) against `serve_live`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect

from opside_hub.auth.repository import get_or_create_user
from opside_hub.auth.service import create_user_token
from opside_hub.db.models import SyncJob
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime
from tests.conftest import LiveServer

# Guards a test against hanging forever; no test expects anything to take a given time.
HANG_GUARD_S = 20.0


def runtime_of(server: LiveServer) -> Runtime:
    runtime: Runtime = server.app.state.runtime
    return runtime


def token_for(server: LiveServer, user_id: str) -> str:
    return create_user_token(user_id, server.settings.auth)


def ws_url(server: LiveServer, token: str | None = None) -> str:
    url = server.url.replace("http://", "ws://", 1) + "/ws"
    return f"{url}?token={quote(token)}" if token is not None else url


@asynccontextmanager
async def open_socket(
    server: LiveServer,
    *,
    token: str | None = None,
    origin: str | None = None,
) -> AsyncIterator[ClientConnection]:
    async with connect(
        ws_url(server, token),
        origin=origin,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=HANG_GUARD_S,
    ) as socket:
        yield socket


@asynccontextmanager
async def user_socket(server: LiveServer, user_id: str) -> AsyncIterator[ClientConnection]:
    """A socket authenticated by `?token=`, past its `connected` event."""
    async with open_socket(server, token=token_for(server, user_id)) as socket:
        assert await next_event(socket) == {"event": "connected", "data": {"userId": user_id}}
        yield socket


async def next_frame(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(HANG_GUARD_S):
        raw = await socket.recv()
    frame: dict[str, Any] = json.loads(raw)
    return frame


async def next_event(socket: ClientConnection) -> dict[str, Any]:
    """The next frame that is not the server's keepalive `ping`."""
    while True:
        frame = await next_frame(socket)
        if frame != {"event": "ping"}:
            return frame


async def close_of(socket: ClientConnection) -> tuple[int | None, str | None]:
    async with asyncio.timeout(HANG_GUARD_S):
        await socket.wait_closed()
    return socket.close_code, socket.close_reason


async def insert_sync(
    runtime: Runtime, user_id: str, *, status: str = "running", percent: int = 0
) -> SyncJob:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        job = SyncJob(
            user_id=user_id,
            status=status,
            stage="fetch_amazon" if status == "running" else status,
            percent=percent,
            providers=["amazon", "stripe"],
            total_cases=10,
            processed_cases=percent // 10,
        )
        session.add(job)
    return job
