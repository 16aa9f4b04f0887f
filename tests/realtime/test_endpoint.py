"""`WS /ws` over real connections: authentication, snapshot, keepalive, lifetime, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from opside_hub.auth.service import create_user_token
from opside_hub.config import AuthSettings, RealtimeSettings
from opside_hub.realtime.service import publish
from tests.conftest import LiveServer, serve_live
from tests.realtime.conftest import (
    close_of,
    insert_sync,
    next_event,
    open_socket,
    runtime_of,
    token_for,
    user_socket,
)

FRONTEND = "https://app.opside.io"


async def test_a_token_in_the_query_authenticates(live_server: LiveServer) -> None:
    async with open_socket(live_server, token=token_for(live_server, "user-a")) as socket:
        assert await next_event(socket) == {"event": "connected", "data": {"userId": "user-a"}}


async def test_a_first_auth_message_authenticates(live_server: LiveServer) -> None:
    async with open_socket(live_server) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token_for(live_server, "user-a")}))

        assert await next_event(socket) == {"event": "connected", "data": {"userId": "user-a"}}
        await socket.send(json.dumps({"type": "ping"}))
        assert await next_event(socket) == {"event": "pong"}


def _forged(settings: AuthSettings) -> str:
    return create_user_token("user-a", AuthSettings(jwt_secret="another-secret-" + "y" * 40))


def _expired(settings: AuthSettings) -> str:
    return create_user_token("user-a", settings, expires_in=timedelta(minutes=-5))


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (_forged, "token_bad_signature"),
        (_expired, "token_expired"),
        (lambda _settings: "not-a-jwt", "token_malformed"),
        (lambda _settings: "", "token_missing"),
    ],
)
@pytest.mark.parametrize("way", ["query", "message"])
async def test_a_bad_token_is_closed_with_4401_before_any_data(
    live_server: LiveServer,
    make_token: Callable[[AuthSettings], str],
    reason: str,
    way: str,
) -> None:
    token = make_token(live_server.settings.auth)
    async with open_socket(live_server, token=token if way == "query" else None) as socket:
        if way == "message":
            await socket.send(json.dumps({"type": "auth", "token": token}))

        # The first thing the client receives is the close frame: no event before auth.
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, reason)


@pytest.mark.parametrize(
    "first",
    [
        json.dumps({"type": "ping"}),
        json.dumps({"type": "auth"}),
        json.dumps({"type": "auth", "token": 42}),
        "not json",
        json.dumps(["auth"]),
    ],
)
async def test_a_first_message_that_is_not_auth_is_closed_with_4401(
    live_server: LiveServer, first: str
) -> None:
    async with open_socket(live_server) as socket:
        await socket.send(first)

        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "auth_required")


async def test_a_socket_that_never_authenticates_is_closed_with_4401(
    database_url: str, redis_url: str
) -> None:
    quick = RealtimeSettings(auth_timeout_seconds=0.2)
    async with (
        serve_live(database_url, redis_url, realtime=quick) as server,
        open_socket(server) as socket,
    ):
        assert await close_of(socket) == (4401, "auth_timeout")


async def test_connect_sends_the_snapshot_of_the_users_active_syncs(
    live_server: LiveServer,
) -> None:
    runtime = runtime_of(live_server)
    await insert_sync(runtime, "user-a", status="completed", percent=100)
    running = await insert_sync(runtime, "user-a", status="running", percent=40)
    await insert_sync(runtime, "user-b", status="queued")

    async with user_socket(live_server, "user-a") as socket:
        snapshot = await next_event(socket)
        await publish(runtime, "user-a", "after_snapshot", {"n": 1})
        after = await next_event(socket)

    assert snapshot["event"] == "sync_progress_update"
    data = snapshot["data"]
    assert data["syncId"] == running.id
    assert data["status"] == "running"
    assert data["stage"] == "fetch_amazon"
    assert data["percent"] == 40
    assert (data["totalCases"], data["processedCases"]) == (10, 4)
    assert data["providers"] == ["amazon", "stripe"]
    assert data["updatedAt"].endswith(("+00:00", "Z"))
    # Only the running sync of this user: the next frame is the event published afterwards.
    assert after == {"event": "after_snapshot", "data": {"n": 1}}


async def test_a_queued_sync_is_in_the_snapshot(live_server: LiveServer) -> None:
    queued = await insert_sync(runtime_of(live_server), "user-a", status="queued")

    async with user_socket(live_server, "user-a") as socket:
        snapshot = await next_event(socket)

    assert snapshot["event"] == "sync_progress_update"
    assert (snapshot["data"]["syncId"], snapshot["data"]["status"]) == (queued.id, "queued")


async def test_client_ping_is_answered_with_pong(live_server: LiveServer) -> None:
    async with user_socket(live_server, "user-a") as socket:
        for _ in range(3):
            await socket.send(json.dumps({"type": "ping"}))
            assert await next_event(socket) == {"event": "pong"}


async def test_the_server_sends_keepalive_pings(database_url: str, redis_url: str) -> None:
    frequent = RealtimeSettings(ping_interval_seconds=0.05)
    async with serve_live(database_url, redis_url, realtime=frequent) as server:
        token = token_for(server, "user-a")
        async with open_socket(server, token=token) as socket:
            frames = [json.loads(await socket.recv()) for _ in range(3)]

    assert frames[0]["event"] == "connected"
    assert frames[1:] == [{"event": "ping"}, {"event": "ping"}]


async def test_a_socket_ends_its_lifetime_with_a_reconnect_hint_and_1012(
    database_url: str, redis_url: str
) -> None:
    short = RealtimeSettings(max_lifetime_seconds=0.3)
    async with (
        serve_live(database_url, redis_url, realtime=short) as server,
        user_socket(server, "user-a") as socket,
    ):
        hint = await next_event(socket)
        closed = await close_of(socket)

    assert hint == {"event": "reconnect", "data": {"reason": "lifetime"}}
    assert closed == (1012, "lifetime")


async def test_a_message_over_the_size_cap_closes_with_1009(live_server: LiveServer) -> None:
    cap = live_server.settings.realtime.max_message_bytes
    async with user_socket(live_server, "user-a") as socket:
        await socket.send(json.dumps({"type": "ping", "pad": "x" * cap}))

        assert await close_of(socket) == (1009, "message_too_big")


async def test_an_oversized_auth_message_closes_with_1009(live_server: LiveServer) -> None:
    cap = live_server.settings.realtime.max_message_bytes
    async with open_socket(live_server) as socket:
        await socket.send(json.dumps({"type": "auth", "token": "x" * cap}))

        assert await close_of(socket) == (1009, "message_too_big")


@pytest.mark.parametrize(
    ("message", "reason"),
    [(b"\x00\x01", "binary_not_accepted"), ("{not json", "invalid_json"), ("[1]", "invalid_json")],
)
async def test_binary_or_non_json_messages_close_with_1003(
    live_server: LiveServer, message: str | bytes, reason: str
) -> None:
    async with user_socket(live_server, "user-a") as socket:
        await socket.send(message)

        assert await close_of(socket) == (1003, reason)


async def test_unknown_message_types_are_ignored(live_server: LiveServer) -> None:
    async with user_socket(live_server, "user-a") as socket:
        await socket.send(json.dumps({"type": "subscribe", "topic": "everything"}))
        await socket.send(json.dumps({"type": "auth", "token": token_for(live_server, "user-b")}))
        await socket.send(json.dumps({"type": "ping"}))
        # The reader handles messages in order: the pong proves both were read and ignored.
        assert await next_event(socket) == {"event": "pong"}

        await publish(runtime_of(live_server), "user-b", "never_seen", {})
        await publish(runtime_of(live_server), "user-a", "still_user_a", {})

        # A second auth message does not switch the socket to another user.
        assert await next_event(socket) == {"event": "still_user_a", "data": {}}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (FRONTEND, True),
        (FRONTEND.upper() + "/", True),
        (None, True),  # not a browser
        ("https://evil.example", False),
        ("null", False),
    ],
)
async def test_origins_outside_cors_origins_are_refused(
    database_url: str, redis_url: str, origin: str | None, allowed: bool
) -> None:
    async with serve_live(database_url, redis_url, cors_origins=[FRONTEND]) as server:
        token = token_for(server, "user-a")
        if allowed:
            async with open_socket(server, token=token, origin=origin) as socket:
                assert (await next_event(socket))["event"] == "connected"
            return
        with pytest.raises(InvalidStatus) as refused:
            async with open_socket(server, token=token, origin=origin):
                pass

    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body or b"")["error"]["code"] == "origin_not_allowed"


async def test_the_servers_own_origin_is_allowed(database_url: str, redis_url: str) -> None:
    async with serve_live(database_url, redis_url, cors_origins=[FRONTEND]) as server:
        token = token_for(server, "user-a")
        async with open_socket(server, token=token, origin=server.url) as socket:
            assert (await next_event(socket))["event"] == "connected"


async def test_any_origin_is_allowed_without_cors_origins(live_server: LiveServer) -> None:
    token = token_for(live_server, "user-a")
    async with open_socket(live_server, token=token, origin="https://anywhere.example") as socket:
        assert (await next_event(socket))["event"] == "connected"


async def test_websockets_pass_the_http_middlewares(database_url: str, redis_url: str) -> None:
    """Rate limits and the body cap are for HTTP: a WebSocket is neither counted nor cut."""
    strict = {"rate_limit_per_ip": "1/minute", "rate_limit_per_user": "1/minute"}
    async with serve_live(database_url, redis_url, max_body_bytes=64, **strict) as server:
        for _ in range(3):
            async with user_socket(server, "user-a") as socket:
                await socket.send(json.dumps({"type": "ping", "pad": "x" * 1000}))
                assert await next_event(socket) == {"event": "pong"}
