"""One authenticated socket of `/ws`: authentication, the snapshot, then the event stream.

After the handshake a socket is served by two tasks. The writer drains the socket's mailbox
(`hub.Subscription`) into frames, sends the keepalive `ping`, and ends the socket at its
lifetime with a `reconnect` hint. The reader answers `ping` with `pong` and watches the client
for frames it must not send (binary, oversized, not JSON). A third waiter ends the socket when
the hub drops it for reading too slowly: the writer may then be stuck in a send the client
never reads, so the drop cannot wait for it.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from opside_hub.auth.exceptions import InvalidToken
from opside_hub.auth.service import UserClaims, decode_user_token
from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.realtime.hub import DropReason, EventHub, Signal, Subscription
from opside_hub.realtime.schemas import (
    CONNECTED,
    PING,
    PONG,
    RECONNECT,
    CloseCode,
    encode_event,
)
from opside_hub.realtime.service import sync_snapshot
from opside_hub.runtime import Runtime

log = get_logger(__name__)

CLOSE_TIMEOUT_S = 5.0
# Lifetimes are spread over their last 10% so that sockets opened together (after a deploy)
# do not all reconnect in the same second.
LIFETIME_JITTER = 0.1


@dataclass(frozen=True)
class Close:
    code: CloseCode
    reason: str


async def authenticate(websocket: WebSocket, settings: Settings) -> UserClaims | Close | None:
    """The user of an accepted socket, from `?token=` or else a first message
    `{"type": "auth", "token": ...}` within the auth timeout. None: the client left."""
    token = websocket.query_params.get("token")
    if token is None:
        try:
            async with asyncio.timeout(settings.realtime.auth_timeout_seconds):
                message = await websocket.receive()
        except TimeoutError:
            return Close(CloseCode.UNAUTHORIZED, "auth_timeout")
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if isinstance(text, str) and _too_big(text, settings):
            return Close(CloseCode.MESSAGE_TOO_BIG, "message_too_big")
        payload = _json_object(text)
        token = payload.get("token") if payload and payload.get("type") == "auth" else None
        if not isinstance(token, str):
            return Close(CloseCode.UNAUTHORIZED, "auth_required")
    try:
        return decode_user_token(token, settings.auth)
    except InvalidToken as exc:
        return Close(CloseCode.UNAUTHORIZED, exc.code)


async def close_socket(websocket: WebSocket, close: Close) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await websocket.close(close.code, close.reason)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # already gone (RuntimeError: Starlette's "already closed"; OSError: timeouts too)


class EventSocket:
    def __init__(self, websocket: WebSocket, runtime: Runtime, hub: EventHub, user_id: str) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.hub = hub
        self.user_id = user_id
        self.settings = runtime.settings
        self._send_lock = asyncio.Lock()

    async def serve(self) -> Close | None:
        """Stream until the socket must close (the `Close` to send) or the client left (None)."""
        # Subscribe before reading the snapshot: an event published meanwhile is queued, not
        # lost. It may repeat what the snapshot shows; `updatedAt` orders the two. `connected`
        # is sent once the snapshot is read, so from then on the socket is live.
        subscription = self.hub.subscribe(self.user_id)
        try:
            snapshot = await self._snapshot()
            await self._send(encode_event(CONNECTED, {"userId": self.user_id}))
            for frame in snapshot:
                await self._send(frame)
            return await self._stream(subscription)
        except WebSocketDisconnect:
            return None
        finally:
            self.hub.unsubscribe(subscription)

    async def _stream(self, subscription: Subscription) -> Close | None:
        reader = asyncio.create_task(self._read())
        writer = asyncio.create_task(self._write(subscription))
        dropped = asyncio.create_task(subscription.dropped())
        tasks = (dropped, writer, reader)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if dropped.done() and not dropped.cancelled():
            reason = dropped.result()
            if reason is DropReason.SLOW:
                return Close(CloseCode.TRY_AGAIN_LATER, "too_slow")
            return Close(CloseCode.SERVICE_RESTART, "shutdown")
        for task in (writer, reader):
            if task.done() and not task.cancelled():
                if isinstance(task.exception(), WebSocketDisconnect):
                    return None
                return task.result()  # re-raises anything unexpected: a bug, logged by uvicorn
        return None

    async def _write(self, subscription: Subscription) -> Close:
        realtime = self.settings.realtime
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + realtime.max_lifetime_seconds * (
            1 - LIFETIME_JITTER * random.random()  # noqa: S311 - jitter, not crypto
        )
        next_ping = started + realtime.ping_interval_seconds
        while True:
            now = loop.time()
            if now >= deadline:
                await self._send(encode_event(RECONNECT, {"reason": "lifetime"}))
                return Close(CloseCode.SERVICE_RESTART, "lifetime")
            if now >= next_ping:
                await self._send(encode_event(PING))
                next_ping = now + realtime.ping_interval_seconds
            item = subscription.get_nowait()
            if item is None:
                try:
                    async with asyncio.timeout_at(min(deadline, next_ping)):
                        item = await subscription.get()
                except TimeoutError:
                    continue
            if item is Signal.RESYNC:
                for frame in await self._snapshot():
                    await self._send(frame)
            else:
                await self._send(item)

    async def _read(self) -> Close | None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if not isinstance(text, str):
                return Close(CloseCode.UNSUPPORTED_DATA, "binary_not_accepted")
            if _too_big(text, self.settings):
                return Close(CloseCode.MESSAGE_TOO_BIG, "message_too_big")
            payload = _json_object(text)
            if payload is None:
                return Close(CloseCode.UNSUPPORTED_DATA, "invalid_json")
            if payload.get("type") == PING:
                await self._send(encode_event(PONG))
            # Anything else (a repeated `auth`, types of newer clients) is ignored.

    async def _snapshot(self) -> list[str]:
        try:
            return await sync_snapshot(self.runtime, self.user_id)
        except Exception as exc:  # the database is down: live events still flow
            log.warning(
                "realtime.snapshot_failed", user_id=self.user_id, error_type=type(exc).__name__
            )
            return []

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)


def _too_big(text: str, settings: Settings) -> bool:
    limit = settings.realtime.max_message_bytes
    return len(text) > limit or len(text.encode()) > limit


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
