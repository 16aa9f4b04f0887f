"""Fan-out through Redis: per-user delivery, two API processes, reconnection, slow sockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from opside_hub.config import RealtimeSettings, RedisSettings
from opside_hub.core.redis import RedisServer
from opside_hub.realtime.hub import DropReason, EventHub
from opside_hub.realtime.service import events_channel, publish
from opside_hub.sync.schemas import status_of
from tests.conftest import LiveServer, serve_live
from tests.realtime.conftest import (
    HANG_GUARD_S,
    insert_sync,
    next_event,
    runtime_of,
    user_socket,
)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def hub_server(redis_url: str) -> RedisServer:
    return RedisServer(url=redis_url, namespace=f"opside-test-{uuid.uuid4().hex[:10]}")


async def test_events_reach_every_socket_of_their_user_and_no_other(
    live_server: LiveServer,
) -> None:
    runtime = runtime_of(live_server)
    async with (
        user_socket(live_server, "user-a") as a1,
        user_socket(live_server, "user-a") as a2,
        user_socket(live_server, "user-b") as b,
    ):
        job = await insert_sync(runtime, "user-a", percent=60)
        receivers = await publish(runtime, "user-a", "sync_progress_update", status_of(job))
        await publish(runtime, "user-b", "marker", {"for": "user-b"})

        expected = status_of(job).model_dump(mode="json", by_alias=True)
        assert receivers == 1  # one hub: this API process
        for socket in (a1, a2):
            assert await next_event(socket) == {"event": "sync_progress_update", "data": expected}
        # Published after user-a's event and delivered in order: had user-a's event leaked to
        # user-b, it would have arrived first.
        assert await next_event(b) == {"event": "marker", "data": {"for": "user-b"}}


async def test_events_cross_api_processes_sharing_redis(database_url: str, redis_url: str) -> None:
    shared = RedisSettings(url=redis_url, namespace=f"opside-test-{uuid.uuid4().hex[:10]}")
    async with (
        serve_live(database_url, redis_url, redis=shared) as first,
        serve_live(database_url, redis_url, redis=shared) as second,
        user_socket(first, "user-a") as a1,
        user_socket(second, "user-a") as a2,
        user_socket(first, "user-b") as b1,
        user_socket(second, "user-b") as b2,
    ):
        receivers = await publish(runtime_of(first), "user-a", "sync_completed", {"n": 1})
        await publish(runtime_of(second), "user-b", "marker", {"n": 2})

        assert receivers == 2  # both hubs
        for socket in (a1, a2):
            assert await next_event(socket) == {"event": "sync_completed", "data": {"n": 1}}
        for socket in (b1, b2):
            assert await next_event(socket) == {"event": "marker", "data": {"n": 2}}


async def test_the_hub_reconnects_after_its_redis_connection_is_killed(
    live_server: LiveServer, redis: Redis
) -> None:
    runtime = runtime_of(live_server)
    hub: EventHub = live_server.app.state.hub
    job = await insert_sync(runtime, "user-a", percent=30)
    async with user_socket(live_server, "user-a") as socket:
        assert (await next_event(socket))["data"]["syncId"] == job.id  # the snapshot

        # Only this hub's connection: others may share the Redis server.
        mine = [c for c in await redis.client_list(_type="pubsub") if c["name"] == hub.client_name]
        assert len(mine) == 1
        await redis.client_kill_filter(_id=mine[0]["id"])

        # Back on Redis, the hub has each socket re-send the snapshot (events may have been
        # published while it was away): this proves the hub subscribed again.
        resync = await next_event(socket)
        assert resync["event"] == "sync_progress_update"
        assert resync["data"]["syncId"] == job.id
        assert hub.reconnects == 1
        assert hub.subscribed

        await publish(runtime, "user-a", "sync_completed", {"syncId": job.id})
        assert await next_event(socket) == {"event": "sync_completed", "data": {"syncId": job.id}}


async def test_a_socket_that_stops_reading_is_dropped_while_others_keep_receiving(
    database_url: str, redis_url: str
) -> None:
    small = RealtimeSettings(queue_size=4)
    async with (
        serve_live(database_url, redis_url, realtime=small) as server,
        user_socket(server, "user-a") as stalled,
        user_socket(server, "user-a") as reader,
    ):
        hub: EventHub = server.app.state.hub
        runtime = runtime_of(server)
        pad = base64.b64encode(os.urandom(75_000)).decode()  # 100 kB that deflate cannot shrink
        sent = 0
        # `stalled` never reads: once the TCP buffers between it and the server are full, its
        # mailbox fills and the hub drops it. `reader` gets every event meanwhile.
        async with asyncio.timeout(HANG_GUARD_S):
            while hub.dropped_slow == 0:
                await publish(runtime, "user-a", "bulk", {"n": sent, "pad": pad})
                assert (await next_event(reader))["data"]["n"] == sent
                sent += 1
        await publish(runtime, "user-a", "after_drop", {})
        assert await next_event(reader) == {"event": "after_drop", "data": {}}
        assert hub.socket_count == 1

        received = 0
        async with asyncio.timeout(HANG_GUARD_S):
            with contextlib.suppress(ConnectionClosed):
                async for _ in stalled:
                    received += 1

    assert (stalled.close_code, stalled.close_reason) == (1013, "too_slow")
    assert 0 < received < sent  # what was buffered before the drop, then the close


async def test_a_subscription_that_falls_behind_is_dropped_without_slowing_others(
    hub_server: RedisServer, redis: Redis
) -> None:
    hub = EventHub(hub_server, queue_size=2)
    await hub.start()
    try:
        slow = hub.subscribe("user-a")
        fast = hub.subscribe("user-a")
        for n in range(3):
            await redis.publish(events_channel(hub_server, "user-a"), json.dumps({"n": n}))
            async with asyncio.timeout(HANG_GUARD_S):
                assert await fast.get() == json.dumps({"n": n})

        assert slow.drop_reason is DropReason.SLOW
        assert fast.drop_reason is None
        assert hub.dropped_slow == 1
        assert hub.socket_count == 1
        # What the slow one had queued before it overflowed is still there to drain.
        assert slow.get_nowait() == json.dumps({"n": 0})
    finally:
        await hub.stop()

    assert fast.drop_reason is DropReason.SHUTDOWN
    assert hub.subscribe("user-a").drop_reason is DropReason.SHUTDOWN


async def test_the_pattern_is_escaped_so_namespaces_do_not_leak(
    redis_url: str, redis: Redis
) -> None:
    tag = uuid.uuid4().hex[:10]
    server = RedisServer(url=redis_url, namespace=f"t-{tag}-[a]*")
    hub = EventHub(server)
    await hub.start()
    try:
        subscription = hub.subscribe("user-a")
        # Would match the pattern `t-<tag>-[a]*:events:*` if its glob characters were live.
        await redis.publish(f"t-{tag}-a-other:events:user-a", "leak")
        await redis.publish(events_channel(server, "user-a"), "mine")
        async with asyncio.timeout(HANG_GUARD_S):
            assert await subscription.get() == "mine"
    finally:
        await hub.stop()


async def test_a_redis_that_is_down_does_not_keep_the_hub_from_starting(
    hub_server: RedisServer,
) -> None:
    unreachable = dataclasses.replace(hub_server, url="redis://127.0.0.1:1/0")
    hub = EventHub(unreachable)
    await hub.start()
    try:
        assert not hub.subscribed
        subscription = hub.subscribe("user-a")
        assert subscription.drop_reason is None  # it will get events once Redis is back
    finally:
        await hub.stop()


async def test_publish_is_best_effort_when_redis_is_unreachable(live_server: LiveServer) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0")
    runtime = dataclasses.replace(runtime_of(live_server), redis=unreachable)
    try:
        assert await publish(runtime, "user-a", "sync_progress_update", {"n": 1}) == 0
    finally:
        await unreachable.aclose()
