"""Service JWTs for the evidence API: exactly the claims DESIGN §3 fixes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from opside_hub.config import EvidenceSettings
from opside_hub.evidence.exceptions import EvidenceNotConfigured
from opside_hub.evidence.service import mint_service_token

SECRET = "evidence-service-secret-" + "s" * 40


def decode(token: str, *, issuer: str = "integrations-backend") -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        issuer=issuer,
        options={"require": ["sub", "user_id", "email", "role", "iss", "iat", "exp"]},
    )
    return claims


def test_the_default_service_token() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    settings = EvidenceSettings(
        jwt_secret=SECRET, jwt_ttl="5m", service_name="integrations-backend"
    )

    token = mint_service_token(settings, user_id="seller-1", email="s@example.com", now=now)

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert decode(token) == {
        "sub": "seller-1",
        "user_id": "seller-1",
        "email": "s@example.com",
        "role": "service_worker",
        "iss": "integrations-backend",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }


def test_the_defaults_come_from_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_API_JWT_SECRET", SECRET)
    monkeypatch.delenv("PYTHON_API_JWT_TTL", raising=False)
    monkeypatch.delenv("PYTHON_API_SERVICE_NAME", raising=False)

    claims = decode(mint_service_token(EvidenceSettings(), user_id="u", email=None))

    assert claims["iss"] == "integrations-backend"
    assert claims["exp"] == claims["iat"] + 300  # type: ignore[operator]
    assert claims["email"] == ""


def test_ttl_and_issuer_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_API_JWT_SECRET", SECRET)
    monkeypatch.setenv("PYTHON_API_JWT_TTL", "15m")
    monkeypatch.setenv("PYTHON_API_SERVICE_NAME", "opside-hub-eu")

    claims = decode(
        mint_service_token(EvidenceSettings(), user_id="u", email="u@example.com"),
        issuer="opside-hub-eu",
    )

    assert claims["exp"] == claims["iat"] + 900  # type: ignore[operator]
    # An explicit ttl (the script's --ttl-minutes) wins over the setting.
    explicit = decode(
        mint_service_token(EvidenceSettings(), user_id="u", email=None, ttl=timedelta(seconds=90)),
        issuer="opside-hub-eu",
    )
    assert explicit["exp"] == explicit["iat"] + 90  # type: ignore[operator]


def test_an_expired_service_token_is_refused_by_its_receiver() -> None:
    settings = EvidenceSettings(jwt_secret=SECRET)
    token = mint_service_token(
        settings, user_id="u", email=None, now=datetime.now(UTC) - timedelta(minutes=6)
    )

    with pytest.raises(jwt.ExpiredSignatureError):
        decode(token)


def test_no_secret_no_token() -> None:
    with pytest.raises(EvidenceNotConfigured, match="PYTHON_API_JWT_SECRET"):
        mint_service_token(EvidenceSettings(jwt_secret=""), user_id="u", email=None)
