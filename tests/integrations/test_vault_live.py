"""The vault against the sandbox providers: fresh tokens, one refresh, reauth, no plaintext."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import text, update

from opside_hub.core.logging import configure_logging
from opside_hub.db.models import Token
from opside_hub.db.types import utcnow
from opside_hub.providers.gmail.client import get_profile
from opside_hub.runtime import Runtime
from opside_hub.vault import repository
from opside_hub.vault.exceptions import ReauthorizationRequired
from opside_hub.vault.service import get_access_token, open_refresh_token
from tests.integrations.conftest import Seller


async def _expire(runtime: Runtime, provider: str) -> None:
    async with runtime.sessions() as session:
        await session.execute(
            update(Token)
            .where(Token.provider == provider)
            .values(expires_at=utcnow() - timedelta(seconds=5))
        )
        await session.commit()


def _count_token_calls(runtime: Runtime, url: str) -> list[str]:
    calls: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        if str(request.url).startswith(url):
            calls.append(str(request.url))

    runtime.http.event_hooks["request"].append(hook)
    return calls


async def test_expired_token_is_refreshed_once_for_many_concurrent_callers(
    seller: Seller, live_runtime: Runtime
) -> None:
    await seller.connect("amazon")
    async with live_runtime.sessions() as session:
        before = await repository.get_token(session, seller.user_id, "amazon")
    assert before is not None
    await _expire(live_runtime, "amazon")
    calls = _count_token_calls(live_runtime, live_runtime.settings.endpoints().amazon_lwa_token_url)

    tokens = await asyncio.gather(
        *(get_access_token(live_runtime, seller.user_id, "amazon") for _ in range(200))
    )

    assert len(calls) == 1
    assert len({t.get_secret_value() for t in tokens}) == 1
    async with live_runtime.sessions() as session:
        after = await repository.get_token(session, seller.user_id, "amazon")
    assert after is not None
    assert after.expires_at is not None
    assert after.expires_at > utcnow() + timedelta(minutes=50)
    # LWA keeps the refresh token; we keep it too.
    assert open_refresh_token(live_runtime.keyring, after) == open_refresh_token(
        live_runtime.keyring, before
    )


async def test_fresh_token_is_served_without_a_refresh(
    seller: Seller, live_runtime: Runtime
) -> None:
    await seller.connect("gmail")
    calls = _count_token_calls(live_runtime, live_runtime.settings.endpoints().google_token_url)

    first = await get_access_token(live_runtime, seller.user_id, "gmail")
    second = await get_access_token(live_runtime, seller.user_id, "gmail")

    assert first == second
    assert calls == []


async def test_a_token_the_provider_rejects_is_refreshed_and_works_again(
    seller: Seller, live_runtime: Runtime
) -> None:
    await seller.connect("gmail")
    token = await get_access_token(live_runtime, seller.user_id, "gmail")
    expired = await seller.http.post(
        "/sandbox/_admin/google/expire", json={"token": token.get_secret_value()}
    )
    assert expired.json() == {"expired": 1}
    base = live_runtime.settings.endpoints().gmail_api_base_url
    with pytest.raises(Exception, match="401"):
        await get_profile(live_runtime.http, base, token)

    fresh = await get_access_token(live_runtime, seller.user_id, "gmail", rejected=token)

    assert fresh != token
    assert (await get_profile(live_runtime.http, base, fresh))[
        "emailAddress"
    ] == "seller@example.com"


async def test_stripe_rotated_refresh_token_replaces_the_old_one(
    seller: Seller, live_runtime: Runtime
) -> None:
    await seller.connect("stripe")
    async with live_runtime.sessions() as session:
        row = await repository.get_token(session, seller.user_id, "stripe")
        assert row is not None
        old_refresh = open_refresh_token(live_runtime.keyring, row)

    await get_access_token(live_runtime, seller.user_id, "stripe", force=True)

    async with live_runtime.sessions() as session:
        row = await repository.get_token(session, seller.user_id, "stripe")
        assert row is not None
        assert open_refresh_token(live_runtime.keyring, row) != old_refresh
    # And the new one keeps working.
    await get_access_token(live_runtime, seller.user_id, "stripe", force=True)


@pytest.mark.parametrize(
    ("provider", "subject"), [("amazon", None), ("gmail", "seller@example.com")]
)
async def test_invalid_grant_marks_the_connection_for_reauthorization(
    seller: Seller, live_runtime: Runtime, provider: str, subject: str | None
) -> None:
    connected = await seller.connect(provider)
    sandbox_provider = "google" if provider == "gmail" else provider
    revoked = await seller.http.post(
        f"/sandbox/_admin/{sandbox_provider}/revoke",
        json={"subject": subject or connected["accountId"]},
    )
    assert revoked.json()["revoked"] >= 1
    await _expire(live_runtime, provider)

    with pytest.raises(ReauthorizationRequired):
        await get_access_token(live_runtime, seller.user_id, provider)
    with pytest.raises(ReauthorizationRequired):  # no retry storm: it stays marked
        await get_access_token(live_runtime, seller.user_id, provider)

    status = (await seller.integrations())[provider]
    assert status["status"] == "needs_reauth"
    assert status["connected"] is False
    # Connecting again heals it.
    await seller.connect(provider)
    assert (await seller.integrations())[provider]["status"] == "active"


async def test_no_token_value_reaches_the_database_or_the_logs(
    seller: Seller, live_runtime: Runtime
) -> None:
    stream = io.StringIO()
    configure_logging(json=True, level="DEBUG")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    seen: list[str] = []

    async def capture(response: httpx2.Response) -> None:
        if "/token" in str(response.request.url):
            await response.aread()
            body = response.json()
            seen.extend(str(body[k]) for k in ("access_token", "refresh_token") if k in body)

    live_runtime.http.event_hooks["response"].append(capture)
    try:
        for provider in ("amazon", "gmail", "stripe"):
            await seller.connect(provider)
            await _expire(live_runtime, provider)
            await get_access_token(live_runtime, seller.user_id, provider, force=True)
        for provider in ("gmail", "stripe"):
            await seller.http.delete(f"/api/{provider}/disconnect", headers=seller.auth)
    finally:
        logging.getLogger().removeHandler(handler)
        configure_logging(json=False, level="INFO")

    assert len(seen) >= 9
    dump = await _dump_database(live_runtime)
    logs = stream.getvalue()
    assert "vault.token.refreshed" in logs
    for secret in seen:
        assert secret not in dump
        assert secret not in logs


async def _dump_database(runtime: Runtime) -> str:
    from opside_hub.db.base import Base

    chunks: list[str] = []
    async with runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(text(f"SELECT * FROM {table.name}"))).all()  # noqa: S608
            chunks.extend(repr(tuple(row)) for row in rows)
    return "\n".join(chunks)
