"""Every error is the same envelope: `{"success": false, "error": {"code", "message", ...}}`."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from opside_hub.config import Settings
from tests.conftest import bearer, running_app


def assert_envelope(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("path", ["/nowhere", "/api/nowhere", "/api/v1/nowhere"])
async def test_unknown_paths_are_404(client: httpx2.AsyncClient, path: str) -> None:
    assert_envelope(await client.get(path), 404, "not_found")


async def test_a_wrong_method_is_405_with_allow(client: httpx2.AsyncClient) -> None:
    response = await client.get("/api/system/ping")

    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_a_body_that_fails_validation_is_422_with_details(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/system/ping", headers=bearer(settings), json={"message": "x" * 201}
    )

    error = assert_envelope(response, 422, "validation_error")
    assert error["message"].startswith("body.message: ")
    assert error["details"] == [
        {
            "field": "body.message",
            "message": "String should have at most 200 characters",
            "type": "string_too_long",
        }
    ]


@pytest.mark.parametrize(
    ("content", "field"),
    [(b"{not json", "body"), (b"", "body"), (b"[]", "body"), (b'{"other": 1}', "body.message")],
    ids=["invalid-json", "empty", "wrong-type", "missing-field"],
)
async def test_bad_input_is_422_never_500(
    client: httpx2.AsyncClient, settings: Settings, content: bytes, field: str
) -> None:
    response = await client.post(
        "/api/system/ping",
        headers={**bearer(settings), "Content-Type": "application/json"},
        content=content,
    )

    error = assert_envelope(response, 422, "validation_error")
    assert error["details"][0]["field"].startswith(field)


async def test_an_unexpected_error_is_a_500_that_reveals_nothing(settings: Settings) -> None:
    async def explode() -> None:
        raise RuntimeError("database password is hunter2")

    async with running_app(settings) as app:
        app.add_api_route("/boom", explode)
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get("/boom")

    error = assert_envelope(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "details" not in error
