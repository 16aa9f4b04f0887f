"""User JWTs at the edge: every way a token can be wrong is a 401 with a reason code, and a
valid Supabase-issued token provisions the user on first sight."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from opside_hub.config import Settings
from opside_hub.db.models import User
from opside_hub.runtime import Runtime
from tests.conftest import TEST_JWT_SECRET, bearer

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims of the shape Supabase Auth issues."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "aud": "authenticated",
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "iat": int(now.timestamp()),
        "iss": "https://abcdefgh.supabase.co/auth/v1",
        "sub": str(uuid.uuid4()),
        "email": "seller@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand: PyJWT refuses to make the malicious ones."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{_b64(signature)}"


def _in(delta: timedelta) -> int:
    return int((datetime.now(UTC) + delta).timestamp())


BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "garbage": (lambda: "not-a-jwt", "token_malformed"),
    "three-garbage-segments": (lambda: "abc.def.ghi", "token_malformed"),
    "huge": (lambda: hs256(claims(padding="x" * 10_000)), "token_malformed"),
    "alg-none": (
        lambda: handmade({"alg": "none", "typ": "JWT"}, claims(), None),
        "token_bad_algorithm",
    ),
    "alg-None-capitalized": (
        lambda: handmade({"alg": "None", "typ": "JWT"}, claims(), None),
        "token_bad_algorithm",
    ),
    "rs256": (
        lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256"),
        "token_bad_algorithm",
    ),
    "hs256-signed-with-the-public-key": (
        lambda: handmade({"alg": "HS256", "typ": "JWT"}, claims(), RSA_PUBLIC_PEM),
        "token_bad_signature",
    ),
    "hs512": (
        lambda: jwt.encode(claims(), TEST_JWT_SECRET + "x" * 64, algorithm="HS512"),
        "token_bad_algorithm",
    ),
    "wrong-key": (lambda: hs256(claims(), "another-secret-" + "y" * 48), "token_bad_signature"),
    "tampered-payload": (
        lambda: _swap_payload(hs256(claims(sub="user-a")), claims(sub="user-b")),
        "token_bad_signature",
    ),
    "expired": (lambda: hs256(claims(exp=_in(-timedelta(minutes=5)))), "token_expired"),
    "nbf-in-the-future": (
        lambda: hs256(claims(nbf=_in(timedelta(minutes=5)))),
        "token_not_yet_valid",
    ),
    "iat-in-the-future": (
        lambda: hs256(claims(iat=_in(timedelta(minutes=5)))),
        "token_not_yet_valid",
    ),
    "wrong-audience": (lambda: hs256(claims(aud="service_role")), "token_bad_audience"),
    "no-audience": (lambda: hs256(claims(aud=None)), "token_bad_claims"),
    "no-subject": (lambda: hs256(claims(sub=None)), "token_bad_claims"),
    "empty-subject": (lambda: hs256(claims(sub="")), "token_bad_claims"),
    "numeric-subject": (lambda: hs256(claims(sub=42)), "token_bad_claims"),
    "overlong-subject": (lambda: hs256(claims(sub="u" * 129)), "token_bad_claims"),
    "no-expiry": (lambda: hs256(claims(exp=None)), "token_bad_claims"),
    "non-numeric-expiry": (lambda: hs256(claims(exp="tomorrow")), "token_malformed"),
}


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


@pytest.mark.parametrize(("make", "code"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_token_is_a_401_with_its_reason(
    client: httpx2.AsyncClient, make: Callable[[], str], code: str
) -> None:
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {make()}"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["no-header", "basic-scheme", "empty-bearer"],
)
async def test_a_missing_token_is_a_401(
    client: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_missing"


async def test_the_user_named_by_a_supabase_token_is_created_on_first_sight(
    client: httpx2.AsyncClient, runtime: Runtime
) -> None:
    token_claims = claims(email="first@example.com")
    headers = {"Authorization": f"Bearer {hs256(token_claims)}"}

    first = await client.get("/api/me", headers=headers)
    again = await client.get("/api/v1/me", headers=headers)

    assert first.status_code == 200
    data = first.json()["data"]
    assert first.json()["success"] is True
    assert data["id"] == token_claims["sub"]
    assert data["email"] == "first@example.com"
    assert datetime.fromisoformat(data["createdAt"]).utcoffset() == timedelta(0)
    assert again.status_code == 200
    assert again.json()["data"] == data
    async with runtime.sessions() as session:
        user = await session.get(User, token_claims["sub"])
    assert user is not None
    assert user.email == "first@example.com"


async def test_concurrent_first_requests_of_a_new_user_all_succeed(
    client: httpx2.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    headers = bearer(settings, "brand-new-user")

    responses = await asyncio.gather(*(client.get("/api/me", headers=headers) for _ in range(5)))

    assert [response.status_code for response in responses] == [200] * 5
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(User).where(User.id == "brand-new-user")
        )
    assert count == 1


async def test_clock_skew_within_the_leeway_is_tolerated(client: httpx2.AsyncClient) -> None:
    token = hs256(claims(exp=_in(-timedelta(seconds=5)), nbf=_in(timedelta(seconds=5))))

    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200


async def test_tokens_made_by_the_cli_helper_are_accepted(
    client: httpx2.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/api/me", headers=bearer(settings, "cli-user", email="a@b.co"))

    assert response.status_code == 200
    assert response.json()["data"]["id"] == "cli-user"
    assert response.json()["data"]["email"] == "a@b.co"
