"""Shared plumbing for benchmarks: a database and a Redis to run against, and a live app.

Benchmarks run against PostgreSQL + Redis when `DATABASE_URL`/`REDIS_URL` are set (a fresh
database is created on that server and dropped afterwards), else against a SQLite file and an
embedded redis-server, like the embedded default.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

# Benchmarks drive the sandbox consent pages with the tests' browser helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opside_hub.app import create_app
from opside_hub.config import (
    AppEnv,
    AuthSettings,
    DatabaseSettings,
    RedisSettings,
    Settings,
    VaultSettings,
)
from opside_hub.core.redis import RedisServer
from opside_hub.db.migrate import upgrade
from opside_hub.vault.keys import generate_key

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Backend:
    database_url: str
    redis_url: str
    label: str


@asynccontextmanager
async def backend() -> AsyncIterator[Backend]:
    admin = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded: RedisServer | None = None
    if not redis_url:
        embedded = RedisServer.start(
            RedisSettings(url="", embedded_path=Path(tempfile.mkdtemp()) / "redis.db")
        )
        redis_url = embedded.url
    try:
        if admin.startswith("postgres"):
            url = make_url(DatabaseSettings(url=admin).effective_url)
            name = f"opside_bench_{uuid.uuid4().hex[:10]}"
            engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            database_url = url.set(database=name).render_as_string(hide_password=False)
            try:
                await asyncio.to_thread(upgrade, database_url)
                yield Backend(database_url, redis_url, "postgresql+redis")
            finally:
                async with engine.connect() as connection:
                    await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await engine.dispose()
        else:
            path = Path(tempfile.mkdtemp()) / "bench.db"
            database_url = f"sqlite+aiosqlite:///{path}"
            await asyncio.to_thread(upgrade, database_url)
            yield Backend(database_url, redis_url, "sqlite+embedded-redis")
    finally:
        if embedded:
            embedded.stop()


def bench_settings(backend: Backend, namespace: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": AppEnv.test,
        "rate_limit_per_user": "1000000/minute",
        "rate_limit_per_ip": "1000000/minute",
        "run_worker_in_api": False,
        "db": DatabaseSettings(url=backend.database_url),
        "redis": RedisSettings(url=backend.redis_url, namespace=namespace),
        "auth": AuthSettings(jwt_secret="bench-jwt-secret-" + "x" * 40),
        "vault": VaultSettings(encryption_key=overrides.pop("encryption_key", generate_key())),
    }
    values.update(overrides)
    return Settings.model_validate(values)


@asynccontextmanager
async def live_app(settings_factory: Any) -> AsyncIterator[tuple[str, Settings]]:
    """Serve the app (with its sandbox providers) on a free local port."""
    sock = bound_socket()
    url = socket_url(sock)
    settings: Settings = settings_factory(url)
    async with serve_asgi(create_app(settings, configure_logs=False), sock):
        yield url, settings


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # uvicorn's own sockets get TCP_NODELAY; a socket handed to it must bring it, or small
    # responses wait for the peer's delayed ACK (~40 ms each). Accepted sockets inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def socket_url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serve_asgi(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `app` with uvicorn on `sock`, with the same server settings for every benchmark:
    one process, uvicorn's default loop and HTTP implementation, no access log."""
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the server stopped while starting")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def connect_amazon(url: str, settings: Settings, user_id: str, seller_name: str) -> None:
    """Connect a sandbox Amazon seller for `user_id` through the real consent flow."""
    from tests.conftest import LiveServer
    from tests.sandbox.helpers import press

    from opside_hub.auth.service import create_user_token

    token = create_user_token(user_id, settings.auth)
    async with httpx2.AsyncClient(base_url=url) as http:
        start = await http.get("/api/amazon/auth", headers={"Authorization": f"Bearer {token}"})
        page = await http.get(start.json()["data"]["authUrl"])
        live = LiveServer(url=url, app=None, settings=settings)  # type: ignore[arg-type]
        approved = await press(http, live, page, "approve", seller_name)
        done = await http.get(approved.headers["location"], headers={"Accept": "application/json"})
        assert done.status_code == 200, done.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def app_process(
    settings: Settings,
    port: int,
    env: dict[str, str],
    *,
    quiet: bool = False,
    command: str = "serve",
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The app as its own process (`opside-hub serve`, as deployed), configured from `settings`
    plus `env`, until it answers /health; terminated after the block. `quiet` discards its logs
    (they are still written: their cost is part of what is measured). `command="worker"`
    starts a worker process instead (nothing to wait for)."""
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": settings.db.url,
        "REDIS_URL": settings.redis.url,
        "REDIS_NAMESPACE": settings.redis.namespace,
        "ENCRYPTION_KEY": settings.vault.encryption_key.get_secret_value(),
        "JWT_SECRET": settings.auth.jwt_secret.get_secret_value(),
        "PUBLIC_URL": url,
        "PROVIDER_MODE": "sandbox",
        "RATE_LIMIT_PER_IP": settings.rate_limit_per_ip,
        "RATE_LIMIT_PER_USER": settings.rate_limit_per_user,
        **env,
    }
    output = subprocess.DEVNULL if quiet else None
    arguments = ["serve", "--port", str(port)] if command == "serve" else [command]
    server = subprocess.Popen(  # noqa: ASYNC220 - the app under test, started once
        [sys.executable, "-m", "opside_hub.cli", *arguments],
        env=full_env,
        cwd=ROOT,
        stdout=output,
        stderr=output,
    )
    try:
        if command == "serve":
            await wait_healthy(url, server)
        yield server
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 30)


async def wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx2.AsyncClient(trust_env=False) as http:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError("the app process exited")
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the app did not become healthy")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
