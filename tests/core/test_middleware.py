"""What every response carries: security headers, CORS for the allowlist, a request id, and a
413 envelope for bodies over the limit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx2
import pytest

from opside_hub.app import create_app
from opside_hub.config import AppEnv, ProviderMode, Settings
from tests.conftest import bearer, client_for, make_settings, running_app

FRONTEND = "https://app.opside.io"
MAX_BODY = 1024


@pytest.fixture
async def cors_client(database_url: str, redis_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    settings = make_settings(database_url, redis_url, cors_origins=[FRONTEND])
    async with running_app(settings) as app, client_for(app) as client:
        yield client


@pytest.fixture
def small_body_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url, max_body_bytes=MAX_BODY)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/health", 200), ("GET", "/api/me", 401), ("GET", "/nowhere", 404)],
)
async def test_every_response_carries_the_security_headers(
    client: httpx2.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    # HSTS only where TLS is guaranteed: production.
    assert "strict-transport-security" not in response.headers


async def test_production_adds_hsts(redis_url: str) -> None:
    settings = make_settings(
        "postgresql://opside@db.example.com:5432/opside",
        redis_url,
        app_env=AppEnv.production,
        provider_mode=ProviderMode.live,
        cors_origins=[FRONTEND],
    )
    assert settings.production_problems() == []
    # Without its lifespan the app has no database or Redis; the CORS preflight and the body
    # limit answer before anything needs them.
    app = create_app(settings, configure_logs=False)
    async with client_for(app) as client:
        preflight = await client.options(
            "/api/me", headers={"Origin": FRONTEND, "Access-Control-Request-Method": "GET"}
        )
        too_large = await client.post("/api/system/ping", content=b"x" * (3 * 1024 * 1024))

    for response in (preflight, too_large):
        hsts = response.headers["strict-transport-security"]
        assert re.fullmatch(r"max-age=\d+; includeSubDomains", hsts)
        assert int(hsts.split("=")[1].split(";")[0]) >= 31536000
        assert response.headers["x-frame-options"] == "DENY"
    assert preflight.status_code == 200
    assert too_large.status_code == 413


async def test_cors_echoes_an_allowed_origin(cors_client: httpx2.AsyncClient) -> None:
    response = await cors_client.get("/health", headers={"Origin": FRONTEND})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed


async def test_cors_ignores_any_other_origin(cors_client: httpx2.AsyncClient) -> None:
    response = await cors_client.get("/health", headers={"Origin": "https://evil.example"})

    assert response.status_code == 200
    # Without Access-Control-Allow-Origin the browser hands the response to no script.
    assert "access-control-allow-origin" not in response.headers


async def test_cors_preflight_for_an_allowed_origin(cors_client: httpx2.AsyncClient) -> None:
    response = await cors_client.options(
        "/api/me",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


async def test_cors_preflight_from_another_origin_is_refused(
    cors_client: httpx2.AsyncClient,
) -> None:
    response = await cors_client.options(
        "/api/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_request_id_is_generated_or_kept(client: httpx2.AsyncClient) -> None:
    generated = await client.get("/health")
    kept = await client.get("/health", headers={"X-Request-ID": "req-1234abcd"})
    unsafe = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})

    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert kept.headers["x-request-id"] == "req-1234abcd"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])


async def test_a_body_over_the_limit_by_content_length_is_a_413(
    small_body_settings: Settings,
) -> None:
    async with running_app(small_body_settings) as app, client_for(app) as client:
        response = await client.post(
            "/api/system/ping",
            headers=bearer(small_body_settings),
            content=b'{"message": "' + b"x" * MAX_BODY + b'"}',
        )

    assert response.status_code == 413
    assert response.json() == {
        "success": False,
        "error": {
            "code": "payload_too_large",
            "message": f"The request body exceeds {MAX_BODY} bytes.",
        },
    }


async def test_a_streamed_body_over_the_limit_is_a_413(small_body_settings: Settings) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"message": "'
        for _ in range(8):
            yield b"x" * 256
        yield b'"}'

    async with running_app(small_body_settings) as app, client_for(app) as client:
        request = client.build_request(
            "POST",
            "/api/system/ping",
            headers={**bearer(small_body_settings), "Content-Type": "application/json"},
            content=chunks(),
        )
        assert "content-length" not in request.headers
        response = await client.send(request)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_lying_content_length_is_a_413(small_body_settings: Settings) -> None:
    async with running_app(small_body_settings) as app, client_for(app) as client:
        response = await client.post(
            "/api/system/ping",
            headers={**bearer(small_body_settings), "Content-Length": "not-a-number"},
            content=b"{}",
        )

    assert response.status_code == 413


async def test_a_body_under_the_limit_reaches_the_route(small_body_settings: Settings) -> None:
    async with running_app(small_body_settings) as app, client_for(app) as client:
        response = await client.post(
            "/api/system/ping", headers=bearer(small_body_settings), json={"message": 7}
        )

    assert response.status_code == 422  # parsed and validated: the limit let it through
