"""POST /api/system/ping: a round trip through the queue, a worker and the database."""

from __future__ import annotations

import httpx2
import pytest
from saq import Worker

from opside_hub.config import RedisSettings, Settings
from opside_hub.core.exceptions import ServiceUnavailable
from opside_hub.core.queue import JobContext
from opside_hub.runtime import Runtime
from opside_hub.system.service import ping_worker
from tests.conftest import bearer, client_for, running_app


@pytest.mark.parametrize("prefix", ["/api", "/api/v1"])
async def test_a_running_worker_answers_the_ping(
    client: httpx2.AsyncClient, settings: Settings, worker: Worker[JobContext], prefix: str
) -> None:
    response = await client.post(
        f"{prefix}/system/ping", headers=bearer(settings), json={"message": "hello worker"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["reply"] == "pong"
    assert body["data"]["echo"] == "hello worker"
    assert body["data"]["database"] is True
    assert body["data"]["at"].endswith("Z") or body["data"]["at"].endswith("+00:00")


async def test_a_message_of_200_characters_is_the_longest_accepted(
    client: httpx2.AsyncClient, settings: Settings, worker: Worker[JobContext]
) -> None:
    accepted = await client.post(
        "/api/system/ping", headers=bearer(settings), json={"message": "x" * 200}
    )
    refused = await client.post(
        "/api/system/ping", headers=bearer(settings), json={"message": "x" * 201}
    )

    assert accepted.status_code == 200
    assert accepted.json()["data"]["echo"] == "x" * 200
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_error"
    assert refused.json()["error"]["details"][0]["field"] == "body.message"


async def test_the_ping_needs_a_user_token(client: httpx2.AsyncClient) -> None:
    response = await client.post("/api/system/ping", json={"message": "hi"})

    assert response.status_code == 401


async def test_without_a_worker_the_ping_is_unavailable_and_leaves_no_job(
    runtime: Runtime,
) -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        await ping_worker(runtime, "anyone there?", wait_s=0.3)

    assert raised.value.status_code == 503
    assert raised.value.code == "worker_unavailable"
    # The unanswered ping is withdrawn: a worker that starts later does not run it.
    assert await runtime.queue.count("queued") == 0
    assert await runtime.queue.count("incomplete") == 0


async def test_with_redis_down_the_ping_is_a_503_envelope(settings: Settings) -> None:
    down = settings.model_copy(
        update={"redis": RedisSettings(url="redis://127.0.0.1:1/0", namespace="down")}
    )
    async with running_app(down) as app, client_for(app) as client:
        response = await client.post(
            "/api/system/ping", headers=bearer(settings), json={"message": "hi"}
        )

    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "error": {"code": "queue_unavailable", "message": "The queue is unavailable."},
    }
