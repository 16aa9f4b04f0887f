"""Test harness: real databases, real Redis, the real app over ASGI.

Backend: the embedded default (a SQLite file and an embedded redis-server) unless
`TEST_DATABASE_URL`/`DATABASE_URL` and `REDIS_URL` name PostgreSQL and Redis. On PostgreSQL a fresh
database is created for the run (and dropped after), built by the migrations; on Redis every key
lives under a random namespace, so parallel runs and a shared server never collide.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from saq import Worker
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from opside_hub.app import create_app
from opside_hub.auth.service import create_user_token
from opside_hub.config import (
    AppEnv,
    AuthSettings,
    DatabaseSettings,
    RedisSettings,
    Settings,
    VaultSettings,
)
from opside_hub.core.logging import configure_logging
from opside_hub.core.queue import JobContext
from opside_hub.core.redis import RedisServer
from opside_hub.db.base import Base
from opside_hub.db.migrate import upgrade
from opside_hub.realtime.protocol import WebSocketProtocol
from opside_hub.runtime import Runtime
from opside_hub.vault.keys import generate_key
from opside_hub.worker import build_worker, stop_worker

TEST_JWT_SECRET = "test-jwt-secret-" + "x" * 48
RELAXED_LIMIT = "100000/minute"


def _env_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""


def pytest_report_header() -> list[str]:
    url = _env_database_url()
    backend = "postgresql" if url.startswith("postgres") else "sqlite (embedded default)"
    redis = "external" if os.environ.get("REDIS_URL") else "embedded"
    return [f"opside-hub backend: database={backend}, redis={redis}"]


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(json=False, level="INFO")


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    admin_url = _env_database_url()
    if not admin_url.startswith("postgres"):
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    admin = make_url(DatabaseSettings(url=admin_url).effective_url)
    name = f"opside_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    server = RedisServer.start(
        RedisSettings(url="", embedded_path=tmp_path_factory.mktemp("redis") / "redis.db")
    )
    yield server.url
    server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    """Settings for one test: its own Redis namespace, limits relaxed, secrets set."""
    return make_settings(database_url, redis_url)


def make_settings(database_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "app_env": AppEnv.test,
        "rate_limit_per_user": RELAXED_LIMIT,
        "rate_limit_per_ip": RELAXED_LIMIT,
        "run_worker_in_api": False,
        "db": DatabaseSettings(url=database_url),
        "redis": RedisSettings(url=redis_url, namespace=f"opside-test-{uuid.uuid4().hex[:10]}"),
        "auth": AuthSettings(jwt_secret=TEST_JWT_SECRET),
        "vault": VaultSettings(encryption_key=generate_key()),
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


class running_app:
    """Builds the app and runs its lifespan (startup, then shutdown) around a block."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings, configure_logs=False)
        self._lifespan = self.app.router.lifespan_context(self.app)

    async def __aenter__(self) -> FastAPI:
        await self._lifespan.__aenter__()
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        await self._lifespan.__aexit__(None, None, None)


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@asynccontextmanager
async def running_worker(runtime: Runtime) -> AsyncIterator[Worker[JobContext]]:
    """A real SAQ worker on the runtime's queue, consuming jobs for the block's duration."""
    worker = build_worker(runtime)
    run = asyncio.create_task(worker.start())
    try:
        yield worker
    finally:
        await stop_worker(worker, grace_s=5)
        await run


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Worker[JobContext]]:
    async with running_worker(runtime) as running:
        yield running


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    async with client_for(app) as http:
        yield http


def client_for(app: FastAPI, client: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=client)
    return httpx2.AsyncClient(transport=transport, base_url="http://testserver")


def bearer(settings: Settings, user_id: str = "user-a", **kwargs: object) -> dict[str, str]:
    token = create_user_token(user_id, settings.auth, **kwargs)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts from empty tables (the schema stays, built once by the migrations)."""
    yield
    if "database_url" not in request.fixturenames:
        return
    await truncate_all(request.getfixturevalue("database_url"))


async def truncate_all(database_url: str) -> None:
    """Empty every table (what each test leaves behind; suites sharing one dataset per module
    call it themselves once at the end)."""
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    await engine.dispose()


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LiveServer:
    """The app served over real HTTP on 127.0.0.1, in the test's event loop."""

    url: str
    app: FastAPI
    settings: Settings


# A live sandbox that answers at once: its worker in the API, reports ready without delay, no
# quotas. For tests about what a sync does, not how it waits.
QUICK_SANDBOX: dict[str, object] = {
    "run_worker_in_api": True,
    "sandbox_report_delay_seconds": 0.0,
    "sandbox_rate_scale": 0.0,
}


@asynccontextmanager
async def serve_live(
    database_url: str, redis_url: str, **overrides: object
) -> AsyncIterator[LiveServer]:
    """Start the app with uvicorn on a free port; `public_url` is that address, so
    `settings.endpoints()` (sandbox mode by default) point at this very server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # uvicorn sets TCP_NODELAY only on sockets it binds itself: without it, Nagle's algorithm and
    # delayed ACKs hold small responses ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        database_url, redis_url, **{"public_url": url, "provider_mode": "sandbox", **overrides}
    )
    app = create_app(settings, configure_logs=False)
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, ws=WebSocketProtocol)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("the live server stopped while starting")
            await asyncio.sleep(0.01)
        yield LiveServer(url=url, app=app, settings=settings)
    finally:
        server.should_exit = True
        await serving
        sock.close()


@pytest.fixture
async def live_server(database_url: str, redis_url: str) -> AsyncIterator[LiveServer]:
    async with serve_live(database_url, redis_url) as server:
        yield server
