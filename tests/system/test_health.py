from __future__ import annotations

from pathlib import Path

import httpx2

from opside_hub import __version__
from opside_hub.config import RedisSettings, Settings
from tests.conftest import client_for, running_app


async def test_health_reports_every_dependency_ok(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "ok"
    assert body["data"] == {
        "status": "ok",
        "version": __version__,
        "checks": {"database": "ok", "redis": "ok", "queue": "ok"},
    }


async def test_health_is_503_when_redis_is_down(settings: Settings) -> None:
    # Nothing listens on port 1: every Redis command fails.
    down = settings.model_copy(
        update={"redis": RedisSettings(url="redis://127.0.0.1:1/0", namespace="down")}
    )
    async with running_app(down) as app, client_for(app) as client:
        response = await client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"]["checks"] == {"database": "ok", "redis": "down", "queue": "down"}


async def test_health_is_503_when_the_database_is_down(settings: Settings, tmp_path: Path) -> None:
    broken = settings.model_copy(
        update={
            "db": settings.db.model_copy(update={"url": _unreachable(settings.db.url, tmp_path)})
        }
    )
    async with running_app(broken) as app, client_for(app) as client:
        response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["data"]["checks"]["database"] == "down"


def _unreachable(url: str, directory: Path) -> str:
    if url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{directory}"  # a directory cannot be opened as a database
    return "postgresql+asyncpg://nobody@127.0.0.1:1/none"


async def test_health_is_public(client: httpx2.AsyncClient) -> None:
    # Load balancers probe it without credentials; a stale token must not fail the probe.
    response = await client.get("/health", headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
