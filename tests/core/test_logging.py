"""No secret reaches the logs: the real structlog configuration, by key and by value shape."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from opside_hub.config import Settings
from opside_hub.core.logging import MASK, configure_logging, get_logger, redact, redact_text
from tests.conftest import bearer, client_for, running_app

JWT_LIKE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ"
)
LWA_ACCESS = "Atza|IwEBIA8secretLWAaccessToken-0123456789"
LWA_REFRESH = "Atzr|IwEBIBsecretLWArefreshToken-0123456789"
GOOGLE_ACCESS = "ya29.a0AfH6SMBsecretGoogleAccessToken"
GOOGLE_REFRESH = "1//0gSecretGoogleRefreshToken"
STRIPE_KEY = "sk_live_51HsecretStripeKey0123456789"
STRIPE_WEBHOOK = "whsec_secretWebhookSigningKey"
OAUTH_CODE = "oauth-code-SECRET-4f1c"
OAUTH_STATE = "oauth-state-SECRET-9a7e"
DB_PASSWORD = "db-pa55word-SECRET"


@pytest.fixture(params=["json", "console"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The production (JSON) and development (console) log setups, writing into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging(json=request.param == "json", level="INFO")
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def assert_no_secrets(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, f"leaked: {secret}"


async def test_a_request_with_tokens_leaves_none_in_the_logs(
    captured: io.StringIO, settings: Settings
) -> None:
    headers = bearer(settings, "log-user")
    token = headers["Authorization"].removeprefix("Bearer ")
    async with running_app(settings) as app, client_for(app) as client:
        response = await client.get(
            "/api/me", params={"code": OAUTH_CODE, "state": OAUTH_STATE}, headers=headers
        )
        assert response.status_code == 200

    output = captured.getvalue()
    assert "http.request" in output  # the access log was written, and through this handler
    assert_no_secrets(output, token, token.split(".")[2], OAUTH_CODE, OAUTH_STATE)


def test_careless_log_calls_are_redacted(captured: io.StringIO) -> None:
    log = get_logger("opside_hub.providers.amazon")
    log.info(
        "vault.token.stored",
        access_token=LWA_ACCESS,
        refresh_token=LWA_REFRESH,
        headers={"Authorization": f"Bearer {JWT_LIKE}", "Accept": "application/json"},
        response_body=json.dumps({"access_token": GOOGLE_ACCESS, "refresh_token": GOOGLE_REFRESH}),
        url=f"https://app.example/api/gmail/callback?code={OAUTH_CODE}&state={OAUTH_STATE}",
        note=f"stripe key {STRIPE_KEY} and webhook secret {STRIPE_WEBHOOK}",
        database=f"postgresql://opside:{DB_PASSWORD}@db.example.com/opside",
        user_id="seller-42",
    )
    log.info(f"refreshed {LWA_ACCESS} for seller-42")
    # Third-party loggers (stdlib, %-style) go through the same redaction.
    logging.getLogger("httpx2").warning("HTTP Request: POST %s", f"/token?code={OAUTH_CODE}")
    logging.getLogger("saq").info("job %s failed: %s", "k1", f"invalid_grant {GOOGLE_REFRESH}")
    try:
        raise RuntimeError(f"token endpoint rejected {LWA_REFRESH}")
    except RuntimeError:
        log.exception("vault.token.refresh_failed")

    output = captured.getvalue()
    for event in ("vault.token.stored", "vault.token.refresh_failed", "HTTP Request", "seller-42"):
        assert event in output
    assert MASK in output
    assert "RuntimeError" in output  # the traceback is kept, only the secret is masked
    assert_no_secrets(
        output,
        JWT_LIKE,
        LWA_ACCESS,
        LWA_REFRESH,
        GOOGLE_ACCESS,
        GOOGLE_REFRESH,
        STRIPE_KEY,
        STRIPE_WEBHOOK,
        OAUTH_CODE,
        OAUTH_STATE,
        DB_PASSWORD,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT_LIKE}", f"Authorization: Bearer {MASK}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        (f"token {JWT_LIKE} end", f"token {MASK} end"),
        (f"x-amz-access-token: {LWA_ACCESS}", f"x-amz-access-token: {MASK}"),
        (f"refresh={LWA_REFRESH}", f"refresh={MASK}"),
        (f"google {GOOGLE_ACCESS}.", f"google {MASK}"),
        (f"google refresh {GOOGLE_REFRESH}", f"google refresh {MASK}"),
        (f"key {STRIPE_KEY}", f"key {MASK}"),
        ("restricted rk_test_abc123XYZ", f"restricted {MASK}"),
        (f"secret {STRIPE_WEBHOOK}", f"secret {MASK}"),
        (
            f"/callback?state={OAUTH_STATE}&code={OAUTH_CODE}&scope=email",
            f"/callback?state={MASK}&code={MASK}&scope=email",
        ),
        (
            "grant_type=refresh_token&refresh_token=abc&client_secret=def",
            f"grant_type=refresh_token&refresh_token={MASK}&client_secret={MASK}",
        ),
        (
            "spapi_oauth_code=ANaz123&selling_partner_id=A1B2",
            f"spapi_oauth_code={MASK}&selling_partner_id=A1B2",
        ),
        (
            f"redis://:{DB_PASSWORD}@cache:6379/0 postgresql://u:{DB_PASSWORD}@db/x",
            f"redis://:{DB_PASSWORD}@cache:6379/0 postgresql://u:{MASK}@db/x",
        ),
        ("sync 3f2a finished: 120 cases", "sync 3f2a finished: 120 cases"),
        ("GET /api/sync/status/abc 200", "GET /api/sync/status/abc 200"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_masks_by_key_recursively_and_keeps_the_rest() -> None:
    event: dict[str, Any] = {
        "event": f"got {GOOGLE_ACCESS}",
        "access_token": "opaque-value-1",
        "client_secret": "opaque-value-2",
        "password": "opaque-value-3",
        "code": "opaque-value-4",
        "state": "opaque-value-5",
        "code_verifier": "opaque-value-6",
        "api_key": "opaque-value-7",
        "cookie": "sb=opaque-value-8",
        "stripe_signature": "t=1,v1=opaque-value-9",
        "nested": {"Authorization": "opaque-value-10", "items": [{"refresh_token": "v11"}]},
        "error": ValueError(f"bad {LWA_ACCESS}"),
        "token_count": 0,
        "token_expired": True,
        "empty_token": None,
        "status_code": 401,
        "user_id": "seller-1",
        "providers": ["amazon", "gmail"],
    }

    result = redact(None, "info", dict(event))

    assert result["event"] == f"got {MASK}"
    for key in (
        "access_token",
        "client_secret",
        "password",
        "code",
        "state",
        "code_verifier",
        "api_key",
        "cookie",
        "stripe_signature",
    ):
        assert result[key] == MASK, key
    assert result["nested"] == {"Authorization": MASK, "items": [{"refresh_token": MASK}]}
    assert result["error"] == f"ValueError('bad {MASK}')"
    # Not secrets: numbers, empty values, ids, lists of names.
    assert result["token_count"] == 0
    assert result["empty_token"] is None
    assert result["token_expired"] is True
    assert result["status_code"] == 401
    assert result["user_id"] == "seller-1"
    assert result["providers"] == ["amazon", "gmail"]
