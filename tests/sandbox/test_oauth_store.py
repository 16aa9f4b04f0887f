from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from opside_hub.sandbox import oauth_store
from opside_hub.sandbox.oauth_store import Authorization, CodeStatus, KeyFn, OAuthStore, utc_now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def key_fn(redis: Redis) -> AsyncIterator[KeyFn]:
    namespace = f"store-test-{uuid.uuid4().hex[:10]}"

    def key(*parts: str) -> str:
        return ":".join((namespace, *parts))

    yield key
    async for name in redis.scan_iter(match=f"{namespace}:*"):
        await redis.delete(name)


def authorization(subject: str = "A1B2C3D4E5F6G7", minutes: int = 5) -> Authorization:
    now = utc_now()
    return Authorization(
        client_id="client",
        redirect_uri="http://127.0.0.1/cb",
        subject=subject,
        scopes=("read",),
        issued_at=now,
        expires_at=now + timedelta(minutes=minutes),
        attributes={"seller_name": "Acme"},
    )


async def test_tokens_are_stored_only_as_hashes_and_every_key_expires(
    redis: Redis, key_fn: KeyFn
) -> None:
    store = OAuthStore(redis, key_fn, "amazon")
    await store.save_code("code-secret", authorization())
    await store.create_grant(
        authorization(),
        access_token="Atza|access-secret",
        access_ttl=timedelta(hours=1),
        refresh_token="Atzr|refresh-secret",
        code="code-secret",
    )

    names = [name async for name in redis.scan_iter(match=key_fn("*"))]
    assert names
    for name in names:
        assert await redis.ttl(name) > 0, name
        dumped = (await redis.dump(name)) or b""
        for secret in (b"code-secret", b"access-secret", b"refresh-secret"):
            assert secret not in name
            assert secret not in dumped


async def test_codes_are_single_use_and_expire(redis: Redis, key_fn: KeyFn) -> None:
    store = OAuthStore(redis, key_fn, "google")
    await store.save_code("c1", authorization(minutes=10))
    await store.save_code("c2", authorization(minutes=10))

    assert (await store.redeem_code("c1")).status is CodeStatus.valid
    assert (await store.redeem_code("c1")).status is CodeStatus.reused
    late = await store.redeem_code("c2", now=utc_now() + timedelta(minutes=10, seconds=1))
    assert late.status is CodeStatus.expired
    assert (await store.redeem_code("never-issued")).status is CodeStatus.unknown


async def test_resolve_expire_and_revoke(redis: Redis, key_fn: KeyFn) -> None:
    store = OAuthStore(redis, key_fn, "amazon")
    grant = await store.create_grant(
        authorization(),
        access_token="at-1",
        access_ttl=timedelta(hours=1),
        refresh_token="rt-1",
    )
    await store.add_access_token(grant, "at-2", timedelta(hours=1))

    resolved = await oauth_store.resolve_access_token(redis, key_fn, "amazon", "at-1")
    assert resolved is not None
    assert (resolved.subject, resolved.client_id, resolved.scopes) == (
        "A1B2C3D4E5F6G7",
        "client",
        ("read",),
    )
    assert resolved.attributes == {"seller_name": "Acme"}
    assert resolved.access_expires_at is not None
    assert not resolved.is_expired()
    assert await oauth_store.resolve_access_token(redis, key_fn, "google", "at-1") is None
    later = utc_now() + timedelta(hours=2)
    assert await store.resolve_access_token("at-1", now=later) is None

    assert await oauth_store.expire_access_tokens(redis, key_fn, "amazon", token="at-1") == 1
    assert await oauth_store.resolve_access_token(redis, key_fn, "amazon", "at-1") is None
    expired = await oauth_store.resolve_access_token(
        redis, key_fn, "amazon", "at-1", include_expired=True
    )
    assert expired is not None
    assert expired.is_expired()
    assert await oauth_store.resolve_access_token(redis, key_fn, "amazon", "at-2") is not None
    assert (
        await oauth_store.expire_access_tokens(redis, key_fn, "amazon", subject="A1B2C3D4E5F6G7")
        == 1  # at-1 already was
    )

    assert await oauth_store.revoke_refresh_token(redis, key_fn, "amazon", "rt-1") is True
    assert await oauth_store.revoke_refresh_token(redis, key_fn, "amazon", "rt-1") is False
    assert await store.grant_for_refresh_token("rt-1") is None
    assert (
        await oauth_store.resolve_access_token(
            redis, key_fn, "amazon", "at-2", include_expired=True
        )
        is None
    )


async def test_revoke_subject_takes_every_grant_of_that_subject(
    redis: Redis, key_fn: KeyFn
) -> None:
    store = OAuthStore(redis, key_fn, "stripe")
    for index in range(2):
        await store.create_grant(
            authorization("acct_1"),
            access_token=f"sk-{index}",
            access_ttl=None,
            refresh_token=f"rt-{index}",
        )
    await store.create_grant(
        authorization("acct_2"), access_token="sk-other", access_ttl=None, refresh_token="rt-other"
    )

    assert await oauth_store.revoke_subject(redis, key_fn, "stripe", "acct_1") == 2

    assert await store.resolve_access_token("sk-0") is None
    assert await store.grant_for_refresh_token("rt-1") is None
    assert await store.resolve_access_token("sk-other") is not None


async def test_rotation_lets_only_one_of_two_refreshes_win(redis: Redis, key_fn: KeyFn) -> None:
    store = OAuthStore(redis, key_fn, "stripe")
    await store.create_grant(
        authorization("acct_1"), access_token="sk", access_ttl=None, refresh_token="rt-old"
    )

    first = await store.rotate_refresh_token("rt-old", "rt-a")
    second = await store.rotate_refresh_token("rt-old", "rt-b")

    assert first is not None
    assert second is None
    assert await store.grant_for_refresh_token("rt-a") is not None
    assert await store.grant_for_refresh_token("rt-b") is None
    # Revocation follows the rotated token.
    assert await store.revoke_token("rt-a") is not None
    assert await store.resolve_access_token("sk") is None
