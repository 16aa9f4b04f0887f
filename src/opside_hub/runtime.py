"""The process's shared resources, started once and stopped once.

The API lifespan, the worker and the tests all build a `Runtime` the same way, so there is one
place where the database engine, Redis, the queue and the outbound HTTP client come to life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx2
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncEngine

from opside_hub import __version__
from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.core.queue import create_queue
from opside_hub.core.redis import RedisServer
from opside_hub.core.singleflight import SingleFlight
from opside_hub.db.engine import create_engine
from opside_hub.db.session import SessionFactory, create_session_factory
from opside_hub.vault.keys import Keyring, parse_keyring

log = get_logger(__name__)
CONNECT_TIMEOUT_S = 10.0


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    redis_server: RedisServer
    redis: Redis
    queue: Queue
    http: httpx2.AsyncClient
    keyring: Keyring
    single_flight: SingleFlight = field(default_factory=SingleFlight)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        keyring = parse_keyring(settings.vault.encryption_key.get_secret_value())
        redis_server = RedisServer.start(settings.redis)
        engine = create_engine(settings.db)
        queue = create_queue(redis_server)
        await queue.connect()
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine, queue),
            redis_server=redis_server,
            redis=redis_server.client(),
            queue=queue,
            http=httpx2.AsyncClient(
                timeout=provider_timeout(settings),
                headers={"User-Agent": f"opside-integrations-hub/{__version__}"},
                follow_redirects=False,
            ),
            keyring=keyring,
        )

    async def stop(self) -> None:
        """Release everything, each step independent: a dead Redis must not keep the engine open."""
        for name, close in (
            ("http", self.http.aclose),
            ("queue", self.queue.disconnect),
            ("redis", self.redis.aclose),
            ("database", self.engine.dispose),
        ):
            try:
                await close()
            except Exception as exc:  # shutting down: report and carry on
                log.warning("runtime.close_failed", resource=name, error_type=type(exc).__name__)
        self.redis_server.stop()


def provider_timeout(settings: Settings) -> httpx2.Timeout:
    """Reads, writes and pool waits get `PROVIDER_TIMEOUT_SECONDS`; connecting, no more than
    `CONNECT_TIMEOUT_S` of it (a provider that does not accept a connection is down)."""
    seconds = settings.provider_timeout_seconds
    return httpx2.Timeout(seconds, connect=min(CONNECT_TIMEOUT_S, seconds))
