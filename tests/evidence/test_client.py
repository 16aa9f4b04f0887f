"""The evidence client sends a fresh service JWT for the user with every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from opside_hub.config import EvidenceSettings
from opside_hub.evidence.client import EvidenceClient
from opside_hub.evidence.exceptions import EvidenceNotConfigured, EvidenceServiceError

SECRET = "evidence-service-secret-" + "s" * 40
BASE_URL = "http://evidence.test/api/v1"


def fake_evidence_service() -> FastAPI:
    """Stands in for the refund engine's API: verifies the bearer as the real one would."""
    service = FastAPI()

    @service.post("/api/v1/{path:path}")
    async def receive(path: str, request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="integrations-backend")
        except jwt.InvalidTokenError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401)
        if path == "broken":
            return JSONResponse({"detail": "boom"}, status_code=500)
        return JSONResponse(
            {"path": path, "scheme": scheme, "claims": claims, "payload": await request.json()}
        )

    return service


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=fake_evidence_service())
    async with httpx2.AsyncClient(transport=transport) as client:
        yield client


def settings(**overrides: Any) -> EvidenceSettings:
    values: dict[str, Any] = {"api_url": BASE_URL + "/", "jwt_secret": SECRET}
    values.update(overrides)
    return EvidenceSettings(**values)


async def test_each_request_carries_a_service_token_for_the_user(
    http: httpx2.AsyncClient,
) -> None:
    client = EvidenceClient(http, settings())

    answer = await client.post_json(
        "/cases/notify", {"syncId": "s-1"}, user_id="seller-7", email="s7@example.com"
    )

    assert answer["path"] == "cases/notify"
    assert answer["scheme"] == "Bearer"
    assert answer["payload"] == {"syncId": "s-1"}
    claims = answer["claims"]
    assert claims["sub"] == claims["user_id"] == "seller-7"
    assert claims["email"] == "s7@example.com"
    assert claims["role"] == "service_worker"
    assert claims["exp"] - claims["iat"] == 300


async def test_an_error_answer_is_a_provider_error_with_its_status(
    http: httpx2.AsyncClient,
) -> None:
    client = EvidenceClient(http, settings())

    with pytest.raises(EvidenceServiceError) as raised:
        await client.post_json("broken", {}, user_id="seller-7", email=None)

    assert raised.value.status_code == 502
    assert raised.value.details == {"status": 500}


async def test_a_token_signed_with_the_wrong_secret_is_refused_by_the_service(
    http: httpx2.AsyncClient,
) -> None:
    client = EvidenceClient(http, settings(jwt_secret="w" * 64))

    with pytest.raises(EvidenceServiceError) as raised:
        await client.post_json("cases/notify", {}, user_id="seller-7", email=None)

    assert raised.value.details == {"status": 401}


async def test_the_client_needs_its_url_and_secret(http: httpx2.AsyncClient) -> None:
    with pytest.raises(EvidenceNotConfigured, match="PYTHON_API_URL"):
        EvidenceClient(http, settings(api_url=""))

    client = EvidenceClient(http, settings(jwt_secret=""))
    with pytest.raises(EvidenceNotConfigured, match="PYTHON_API_JWT_SECRET"):
        await client.post_json("cases/notify", {}, user_id="seller-7", email=None)
