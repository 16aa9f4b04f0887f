"""WebSocket fan-out: 500 clients on 2 API processes, progress events published through Redis.

Two API processes (separate OS processes, uvicorn, same Redis and database) serve `/ws`; the
clients connect alternately to one and the other, each authenticated as one of `--users`
sellers, so every seller has sockets on both processes. A publisher calls
`realtime.service.publish` (as the sync pipeline does) with `sync_progress_update` events whose
data is a sync status carrying the send time, one event per seller per round. Prints the
delivery latency (publish call to frame parsed by the client: p50/p99/max) and the delivered
and expected counts. Goal: p99 < 100 ms; reported, not asserted. Loopback only; it stops by
itself (bounded rounds, bounded waits).

The in-run baseline (skip it with `--no-baseline`): the same clients, users, rounds and frames
through a bare broadcast, two processes of a minimal FastAPI app under the same uvicorn
settings, each with one Redis pattern subscription that writes every message straight to the
user's sockets (no token, no hub, no mailboxes, no snapshot), published with a plain Redis
PUBLISH of the same JSON. The latencies are printed as ratios to it.

    uv run python bench/ws_fanout.py                       # SQLite + embedded Redis
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/ws_fanout.py                   # PostgreSQL + Redis
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from _harness import (
    Backend,
    backend,
    bench_settings,
    bound_socket,
    live_app,
    percentile,
    serve_asgi,
    socket_url,
)
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from opside_hub.auth.service import create_user_token
from opside_hub.config import Settings
from opside_hub.core.logging import configure_logging
from opside_hub.realtime.service import publish
from opside_hub.runtime import Runtime
from opside_hub.sync.schemas import SyncStatus

PROCESSES = 2
STARTUP_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 15.0
CONNECT_BATCH = 50


def _settings(config: dict[str, Any], url: str) -> Settings:
    return bench_settings(
        Backend(config["database_url"], config["redis_url"], ""),
        config["namespace"],
        public_url=url,
    )


def _serve(kind: str, config: dict[str, Any], ready: Any, stop: Any) -> None:
    """One API process (our app, or the bare broadcast) under uvicorn until the parent says
    stop."""
    configure_logging(json=False, level="WARNING")

    async def run() -> None:
        if kind == "bare":
            sock = bound_socket()
            async with serve_asgi(bare_broadcast_app(config), sock):
                ready.put(socket_url(sock))
                await asyncio.to_thread(stop.wait, STARTUP_TIMEOUT_S * 10)
            return
        async with live_app(lambda url: _settings(config, url)) as (url, _):
            ready.put(url)
            await asyncio.to_thread(stop.wait, STARTUP_TIMEOUT_S * 10)

    asyncio.run(run())


def _bare_channel(config: dict[str, Any], user_id: str) -> str:
    return f"{config['namespace']}:bare:{user_id}"


def bare_broadcast_app(config: dict[str, Any]) -> FastAPI:
    """The baseline: a WebSocket endpoint and one Redis pattern subscription per process that
    writes each message to the user's sockets in turn. `?token=` is the user id itself."""
    sockets: dict[str, set[WebSocket]] = {}
    prefix = _bare_channel(config, "")

    async def forward(redis: Redis) -> None:
        async with redis.pubsub() as pubsub:
            await pubsub.psubscribe(prefix + "*")
            async for message in pubsub.listen():
                if message["type"] != "pmessage":
                    continue
                user_id = message["channel"].decode()[len(prefix) :]
                text = message["data"].decode()
                for socket in list(sockets.get(user_id, ())):
                    with contextlib.suppress(Exception):  # a socket closing meanwhile
                        await socket.send_text(text)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        redis = Redis.from_url(config["redis_url"])
        forwarding = asyncio.create_task(forward(redis))
        yield
        forwarding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarding
        await redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/ws")
    async def ws(socket: WebSocket, token: str) -> None:
        await socket.accept()
        await socket.send_text(json.dumps({"event": "connected"}))
        sockets.setdefault(token, set()).add(socket)
        try:
            while True:
                await socket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets[token].discard(socket)

    return app


class Client:
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.latencies_ms: list[float] = []
        self.closed: tuple[int | None, str | None] | None = None

    async def listen(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                received_ns = time.time_ns()
                frame = json.loads(raw)
                if frame["event"] == "sync_progress_update":
                    sent_ns = frame["data"]["sentAtNs"]
                    self.latencies_ms.append((received_ns - sent_ns) / 1e6)
        except ConnectionClosed:
            pass
        self.closed = (socket.close_code, socket.close_reason)


async def _open(url: str, token: str, compression: str | None) -> ClientConnection:
    socket = await connect(
        f"{url.replace('http://', 'ws://', 1)}/ws?token={token}",
        proxy=None,
        open_timeout=CONNECT_TIMEOUT_S,
        max_queue=None,  # measure the server, not a client-side backlog limit
        compression=compression,
    )
    first = json.loads(await socket.recv())
    assert first["event"] == "connected", first
    return socket


def _status(user_id: str, round_no: int, rounds: int) -> dict[str, Any]:
    status = SyncStatus(
        sync_id=f"sync-{user_id}",
        status="running",
        stage="fetch_amazon",
        percent=round(100 * (round_no + 1) / rounds),
        total_cases=rounds,
        processed_cases=round_no + 1,
        audit=[],
        updated_at=datetime.now(UTC),
        trigger="manual",
        providers=["amazon", "stripe"],
        started_at=datetime.now(UTC),
    ).model_dump(mode="json", by_alias=True)
    status["sentAtNs"] = time.time_ns()  # the send time, read back by the clients
    return status


async def main(args: argparse.Namespace) -> None:
    async with backend() as chosen:
        config: dict[str, Any] = {
            "database_url": chosen.database_url,
            "redis_url": chosen.redis_url,
            "namespace": f"bench-{uuid.uuid4().hex[:8]}",
        }
        latencies = {}
        for kind in ("ours",) if args.no_baseline else ("ours", "bare"):
            latencies[kind] = await _serve_and_run(args, config, chosen.label, kind)
    if "bare" in latencies:
        ours, bare = latencies["ours"], latencies["bare"]
        print(
            "ours / bare broadcast: "
            + ", ".join(
                f"{name} x{percentile(ours, q) / percentile(bare, q):.2f}"
                for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
            )
        )


async def _serve_and_run(
    args: argparse.Namespace, config: dict[str, Any], label: str, kind: str
) -> list[float]:
    context = mp.get_context("spawn")
    ready = context.Queue()
    stop = context.Event()
    servers = [
        context.Process(target=_serve, args=(kind, config, ready, stop), daemon=True)
        for _ in range(PROCESSES)
    ]
    for server in servers:
        server.start()
    try:
        urls = [await asyncio.to_thread(ready.get, True, STARTUP_TIMEOUT_S) for _ in servers]
        return await _run(args, config, urls, label, kind)
    finally:
        stop.set()
        for server in servers:
            await asyncio.to_thread(server.join, 30)
            if server.is_alive():
                server.terminate()


async def _run(
    args: argparse.Namespace, config: dict[str, Any], urls: list[str], label: str, kind: str
) -> list[float]:
    users = [f"bench-seller-{n:03d}" for n in range(args.users)]
    runtime: Runtime | None = None
    redis: Redis | None = None
    if kind == "ours":
        runtime = await Runtime.start(_settings(config, urls[0]))
        tokens = {user: create_user_token(user, runtime.settings.auth) for user in users}
    else:
        redis = Redis.from_url(config["redis_url"])
        tokens = {user: user for user in users}

    async def send(user: str, data: dict[str, Any]) -> int:
        if runtime is not None:
            return await publish(runtime, user, "sync_progress_update", data)
        assert redis is not None
        frame = json.dumps({"event": "sync_progress_update", "data": data}, separators=(",", ":"))
        return int(await redis.publish(_bare_channel(config, user), frame))

    clients = [Client(users[n % len(users)]) for n in range(args.clients)]
    # Browsers offer permessage-deflate and uvicorn accepts it: compressed per socket.
    compression = None if args.no_deflate else "deflate"
    sockets: list[ClientConnection] = []
    listeners: list[asyncio.Task[None]] = []
    try:
        started = time.perf_counter()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            for offset in range(0, len(clients), CONNECT_BATCH):
                batch = list(enumerate(clients))[offset : offset + CONNECT_BATCH]
                sockets += await asyncio.gather(
                    *(_open(urls[n % len(urls)], tokens[c.user_id], compression) for n, c in batch)
                )
        connect_s = time.perf_counter() - started
        listeners = [
            asyncio.create_task(client.listen(socket))
            for client, socket in zip(clients, sockets, strict=True)
        ]

        sockets_per_user = Counter(client.user_id for client in clients)
        expected = 0
        hubs_reached: Counter[int] = Counter()
        started = time.perf_counter()
        for round_no in range(args.rounds):
            tick = time.perf_counter()
            for user in users:
                receivers = await send(user, _status(user, round_no, args.rounds))
                hubs_reached[receivers] += 1
                expected += sockets_per_user[user]
            await asyncio.sleep(max(0.0, args.interval - (time.perf_counter() - tick)))
        publish_s = time.perf_counter() - started

        deadline = time.perf_counter() + DRAIN_TIMEOUT_S
        while time.perf_counter() < deadline:
            if sum(len(c.latencies_ms) for c in clients) >= expected:
                break
            await asyncio.sleep(0.05)
    finally:
        for socket in sockets:
            await socket.close()
        await asyncio.gather(*listeners, return_exceptions=True)
        if runtime is not None:
            await runtime.stop()
        if redis is not None:
            await redis.aclose()

    latencies = [value for client in clients for value in client.latencies_ms]
    closes = Counter(client.closed for client in clients)
    events = args.rounds * len(users)
    deflate = "off" if args.no_deflate else "on"
    server = "our app" if kind == "ours" else "bare broadcast (baseline)"
    print(f"== {server}")
    print(f"backend: {label}; {PROCESSES} API processes (uvicorn), loopback, deflate {deflate}")
    print(
        f"clients: {len(clients)} sockets, {len(users)} users "
        f"({len(clients) // len(users)} sockets each, spread over both processes); "
        f"connected in {connect_s:.2f} s"
    )
    print(
        f"published: {events} events ({args.rounds} rounds x {len(users)} users, "
        f"every {args.interval * 1000:.0f} ms) in {publish_s:.2f} s "
        f"= {events / publish_s:.0f} events/s, {expected / publish_s:.0f} deliveries/s; "
        f"hubs reached per publish: {dict(hubs_reached)}"
    )
    print(f"delivered/expected: {len(latencies)}/{expected}")
    print(
        f"latency publish->client: p50 {percentile(latencies, 0.50):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies, default=float('nan')):.1f} "
        "ms (goal p99 < 100 ms)"
    )
    print(f"socket closes (code, reason): {dict(closes)}")
    return latencies


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between rounds")
    parser.add_argument("--no-deflate", action="store_true", help="clients refuse compression")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare broadcast")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_args()))
