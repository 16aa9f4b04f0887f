"""One Redis pub/sub connection per API process, fanned out in-process to the user's sockets.

Publishers (`service.publish`, from API and worker processes alike) send to the channel
`<namespace>:events:<user_id>`. Each API process holds ONE pattern subscription on
`<namespace>:events:*` and hands every message to the mailboxes of that user's sockets in this
process, as the text it arrived as (encoded once by the publisher, never re-encoded per socket).
The cost per event is one Redis delivery per process, whatever the number of sockets; sockets
never talk to Redis themselves.

Mailboxes are bounded. A socket whose client reads too slowly fills its mailbox and is dropped
(`DropReason.SLOW`, closed with 1013 by the endpoint) rather than making the hub buffer without
bound or wait: the hub never awaits a socket, so one slow reader cannot delay anyone else.

The hub owns its reconnection. redis-py would reconnect a pub/sub connection silently on the
next read; we would rather know: when the connection drops (Redis restarted, `CLIENT KILL`, or a
dead TCP path caught by our own pings going unanswered) the hub logs
`realtime.hub.disconnected`, reconnects with capped exponential backoff and jitter, logs
`realtime.hub.reconnected`, and sends every mailbox `Signal.RESYNC`: pub/sub is not a log, so
events published meanwhile are gone, and each socket re-sends the database's snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
from enum import Enum

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from opside_hub.core.logging import get_logger
from opside_hub.core.redis import RedisServer

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 5.0
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0
KEEPALIVE_S = 15.0
# Pings unanswered for this many keepalive periods mean the connection is dead.
MISSED_KEEPALIVES = 3
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_CLIENT_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9:._-]")


class Signal(Enum):
    RESYNC = "resync"  # the hub was disconnected from Redis: events may have been missed


class DropReason(Enum):
    SLOW = "slow"  # the mailbox overflowed
    SHUTDOWN = "shutdown"  # the hub stopped


class Subscription:
    """The mailbox of one socket: event frames (text) and signals, bounded."""

    __slots__ = ("_closed", "_queue", "drop_reason", "user_id")

    def __init__(self, user_id: str, maxsize: int) -> None:
        self.user_id = user_id
        self.drop_reason: DropReason | None = None
        self._queue: asyncio.Queue[str | Signal] = asyncio.Queue(maxsize)
        self._closed = asyncio.Event()

    async def get(self) -> str | Signal:
        return await self._queue.get()

    def get_nowait(self) -> str | Signal | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def dropped(self) -> DropReason:
        """Wait until the hub drops this subscription; then the mailbox gets nothing more."""
        await self._closed.wait()
        assert self.drop_reason is not None
        return self.drop_reason

    def _offer(self, item: str | Signal) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def _drop(self, reason: DropReason) -> None:
        if self.drop_reason is None:
            self.drop_reason = reason
            self._closed.set()


class EventHub:
    def __init__(
        self,
        redis_server: RedisServer,
        *,
        queue_size: int = 256,
        keepalive_s: float = KEEPALIVE_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self._redis_server = redis_server
        self._prefix = redis_server.key("events", "")
        self._pattern = _GLOB_SPECIAL.sub(r"\\\1", self._prefix) + "*"
        self._client_name = _CLIENT_NAME_UNSAFE.sub(
            "_", redis_server.key("realtime-hub", str(os.getpid()))
        )
        self._queue_size = queue_size
        self._keepalive_s = keepalive_s
        self._max_backoff_s = max_backoff_s
        self._sockets: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._subscribed = False
        self.reconnects = 0
        self.dropped_slow = 0

    @property
    def client_name(self) -> str:
        """The `CLIENT SETNAME` of the hub's connection, to find it in `CLIENT LIST`."""
        return self._client_name

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    @property
    def socket_count(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._sockets.values())

    async def start(self) -> None:
        """Start listening; returns after the first attempt, subscribed or not: a Redis that is
        down at startup must not keep the API from serving (the hub keeps retrying)."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="realtime.hub")
        await self._first_attempt.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriptions in self._sockets.values():
            for subscription in subscriptions:
                subscription._drop(DropReason.SHUTDOWN)
        self._sockets.clear()

    def subscribe(self, user_id: str) -> Subscription:
        subscription = Subscription(user_id, self._queue_size)
        if self._task is None:  # stopped (or never started): nothing will ever arrive
            subscription._drop(DropReason.SHUTDOWN)
            return subscription
        self._sockets.setdefault(user_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._sockets.get(subscription.user_id)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._sockets[subscription.user_id]

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        user_id = channel.decode("utf-8", "replace")[len(self._prefix) :]
        subscriptions = self._sockets.get(user_id)
        if not subscriptions:
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            log.warning("realtime.hub.undecodable_message", user_id=user_id)
            return
        for subscription in tuple(subscriptions):
            if not subscription._offer(text):
                self._drop_slow(subscription)

    def _broadcast_resync(self) -> None:
        for subscriptions in tuple(self._sockets.values()):
            for subscription in tuple(subscriptions):
                if not subscription._offer(Signal.RESYNC):
                    self._drop_slow(subscription)

    def _drop_slow(self, subscription: Subscription) -> None:
        self.unsubscribe(subscription)
        subscription._drop(DropReason.SLOW)
        self.dropped_slow += 1
        log.warning(
            "realtime.socket.dropped",
            user_id=subscription.user_id,
            reason=DropReason.SLOW.value,
            queue_size=self._queue_size,
        )

    async def _run(self) -> None:
        backoff = INITIAL_BACKOFF_S
        failures = 0
        while True:
            client: Redis = self._redis_server.client(
                client_name=self._client_name, socket_connect_timeout=CONNECT_TIMEOUT_S
            )
            pubsub = client.pubsub()
            try:
                await self._subscribe(pubsub)
                self._subscribed = True
                if failures:
                    self.reconnects += 1
                    log.info("realtime.hub.reconnected", failed_attempts=failures)
                    self._broadcast_resync()
                else:
                    log.info("realtime.hub.subscribed", pattern=self._pattern)
                failures, backoff = 0, INITIAL_BACKOFF_S
                self._first_attempt.set()
                await self._pump(pubsub)
            except asyncio.CancelledError:
                self._subscribed = False
                await _close_quietly(pubsub, client)
                raise
            except Exception as exc:
                failures += 1
                delay = backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
                fields = {
                    "error_type": type(exc).__name__,
                    "attempt": failures,
                    "retry_in_s": round(delay, 3),
                }
                if isinstance(exc, RedisError | OSError):  # OSError includes TimeoutError
                    event = (
                        "realtime.hub.disconnected"
                        if self._subscribed
                        else "realtime.hub.unavailable"
                    )
                    log.warning(event, error=str(exc), **fields)
                else:  # a bug; the hub must outlive it or every socket goes quiet
                    log.exception("realtime.hub.failed", **fields)
                self._subscribed = False
                self._first_attempt.set()
                await _close_quietly(pubsub, client)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _subscribe(self, pubsub: PubSub) -> None:
        """PSUBSCRIBE and wait for Redis to confirm it: from then on nothing is missed."""
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await pubsub.psubscribe(self._pattern)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None and message["type"] == "psubscribe":
                    return

    async def _pump(self, pubsub: PubSub) -> None:
        """Dispatch messages until the connection fails (this only returns by raising)."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        next_ping = last_heard + self._keepalive_s
        while True:
            message = await pubsub.get_message(timeout=max(0.0, next_ping - loop.time()))
            now = loop.time()
            if message is not None:
                last_heard = now
                if message["type"] == "pmessage":
                    self._dispatch(message["channel"], message["data"])
            if now >= next_ping:
                if now - last_heard > MISSED_KEEPALIVES * self._keepalive_s:
                    raise TimeoutError("Redis did not answer the hub's pings")
                await pubsub.ping()
                next_ping = now + self._keepalive_s


async def _close_quietly(pubsub: PubSub, client: Redis) -> None:
    for close in (pubsub.aclose, client.aclose):
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await close()
        except Exception as exc:  # the connection is already broken; nothing left to save
            log.debug("realtime.hub.close_failed", error_type=type(exc).__name__)
