"""The embedded Redis of the embedded default: a real server that leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

from opside_hub.config import RedisSettings
from opside_hub.core.redis import RedisServer


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie awaiting its reaper counts as gone)."""
    proc = Path(f"/proc/{pid}/stat")
    if Path("/proc/self").exists():
        return proc.exists() and proc.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_embedded_server_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    server = RedisServer.start(RedisSettings(url="", embedded_path=tmp_path / "redis.db"))
    assert server.embedded
    assert server.url.startswith("unix://")
    socket_dir = Path(server.url.removeprefix("unix://")).parent
    client = server.client()
    try:
        assert await client.ping() is True
        await client.set(server.key("probe"), "1")
        assert await client.get(server.key("probe")) == b"1"
        pid = int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()
    assert _alive(pid)
    assert socket_dir.is_dir()

    server.stop()

    assert not _alive(pid), "the redis-server process outlived stop()"
    assert not socket_dir.exists()
    assert not server.embedded
    server.stop()  # idempotent


def test_an_external_url_starts_nothing() -> None:
    server = RedisServer.start(RedisSettings(url="redis://127.0.0.1:6379/3", namespace="ns"))

    assert not server.embedded
    assert server.url == "redis://127.0.0.1:6379/3"
    assert server.key("ratelimit", "ip") == "ns:ratelimit:ip"
    assert server.limits_uri == "async+redis://127.0.0.1:6379/3"
    server.stop()  # a no-op: someone else's server


def test_the_limits_uri_of_a_unix_socket() -> None:
    server = RedisServer(url="unix:///run/redis.sock", namespace="ns")

    assert server.limits_uri == "async+redis+unix:///run/redis.sock"
