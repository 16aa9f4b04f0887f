"""Authorization codes, grants and tokens of the sandbox providers, kept in Redis.

Every API process serves the sandbox, so nothing lives in process memory: a code issued by one
process is redeemed at another. Tokens are never stored, only their SHA-256 (a Redis dump shows
no usable credential), and every key carries a TTL.

The model is the one OAuth servers share. A person's consent produces an `Authorization`, bound
to a single-use code. Redeeming the code creates a **grant** (one authorization of one client by
one subject: a selling partner, a Google account, a Stripe account) with an optional refresh
token; each access token points at its grant. Revoking a grant kills its refresh token and every
access token issued under it, so a later refresh is `invalid_grant` and a later API call is 401.

Keys, under `key_fn("sandbox", provider, ...)` (`RedisServer.key` namespaces them):

    code:<sha>            the Authorization of an unredeemed code (TTL: lifetime + grace)
    code-used:<sha>       grant id issued for a redeemed code, to revoke it on replay (RFC 6749
                          §4.1.2)
    grant:<id>            the grant (client, subject, scopes, attributes, refresh token hash)
    grant-access:<id>     set of the grant's access token hashes
    refresh:<sha>         grant id
    access:<sha>          grant id + expiry; kept a day past expiry so APIs can tell "expired"
                          from "unknown" as the real ones do
    subject:<subject>     set of grant ids of that subject (deauthorize, admin)
    consented:<subject>   hash client id → scopes the subject granted that client: the app is
                          connected to the account (Google's include_granted_scopes and
                          first-consent refresh tokens; Stripe's deauthorize)

Sandbox data APIs (SP-API, Gmail, Stripe) authenticate bearer tokens with `resolve_access_token`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

KeyFn = Callable[..., str]

# Refresh tokens outlive everything else; Amazon asks sellers to re-authorize yearly.
REFRESH_TOKEN_TTL = timedelta(days=365)
EXPIRED_ACCESS_GRACE = timedelta(days=1)
CODE_GRACE = timedelta(hours=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Authorization:
    """What a person approved on a consent page; a code stands for it until redeemed."""

    client_id: str
    redirect_uri: str
    subject: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    attributes: Mapping[str, str] = field(default_factory=dict)
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    offline: bool = True  # whether redeeming the code issues a refresh token

    def to_json(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "subject": self.subject,
                "scopes": list(self.scopes),
                "issued_at": self.issued_at.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "attributes": dict(self.attributes),
                "code_challenge": self.code_challenge,
                "code_challenge_method": self.code_challenge_method,
                "offline": self.offline,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Authorization:
        data = json.loads(raw)
        return cls(
            client_id=data["client_id"],
            redirect_uri=data["redirect_uri"],
            subject=data["subject"],
            scopes=tuple(data["scopes"]),
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            attributes=dict(data["attributes"]),
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            offline=bool(data["offline"]),
        )


@dataclass(frozen=True)
class Grant:
    """Who a token belongs to. `access_expires_at` is the presented access token's expiry (None
    when it does not expire on a clock, as Stripe's); it is None too for grants looked up by
    refresh token."""

    provider: str
    grant_id: str
    client_id: str
    subject: str
    scopes: tuple[str, ...]
    attributes: Mapping[str, str]
    created_at: datetime
    access_expires_at: datetime | None = None

    def is_expired(self, now: datetime | None = None) -> bool:
        expires_at = self.access_expires_at
        return expires_at is not None and expires_at <= (now or utc_now())

    def has_any_scope(self, scopes: Iterable[str]) -> bool:
        return not set(self.scopes).isdisjoint(scopes)


class CodeStatus(StrEnum):
    valid = "valid"
    unknown = "unknown"
    expired = "expired"
    reused = "reused"


@dataclass(frozen=True)
class Redemption:
    status: CodeStatus
    authorization: Authorization | None = None


class OAuthStore:
    """The Redis state of one sandbox provider (`amazon`, `google` or `stripe`)."""

    def __init__(self, redis: Redis, key_fn: KeyFn, provider: str) -> None:
        self.redis = redis
        self.provider = provider
        self._key_fn = key_fn

    def key(self, *parts: str) -> str:
        return str(self._key_fn("sandbox", self.provider, *parts))

    # -- codes ------------------------------------------------------------------------------

    async def save_code(self, code: str, authorization: Authorization) -> None:
        ttl = authorization.expires_at - authorization.issued_at + CODE_GRACE
        await self.redis.set(self.key("code", token_hash(code)), authorization.to_json(), ex=ttl)

    async def redeem_code(self, code: str, *, now: datetime | None = None) -> Redemption:
        """Consume a code: a code is good once, whatever the outcome of the exchange. A replayed
        code revokes the grant its first redemption created."""
        digest = token_hash(code)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.getdel(self.key("code", digest))
            pipe.get(self.key("code-used", digest))
            raw, used_by = await pipe.execute()
        if raw is None:
            if used_by is None:
                return Redemption(CodeStatus.unknown)
            if grant_id := _text(used_by):
                await self.revoke_grant(grant_id)
            return Redemption(CodeStatus.reused)
        authorization = Authorization.from_json(raw)
        # Marked before any grant exists, so a replay racing the first exchange is refused too.
        await self.redis.set(self.key("code-used", digest), "", ex=CODE_GRACE)
        if authorization.expires_at <= (now or utc_now()):
            return Redemption(CodeStatus.expired, authorization)
        return Redemption(CodeStatus.valid, authorization)

    # -- grants and tokens ------------------------------------------------------------------

    async def create_grant(
        self,
        authorization: Authorization,
        *,
        access_token: str,
        access_ttl: timedelta | None,
        refresh_token: str | None,
        code: str | None = None,
        now: datetime | None = None,
    ) -> Grant:
        """Record a grant and its first tokens (`access_ttl=None`: no clock expiry)."""
        now = now or utc_now()
        grant = Grant(
            provider=self.provider,
            grant_id=uuid.uuid4().hex,
            client_id=authorization.client_id,
            subject=authorization.subject,
            scopes=authorization.scopes,
            attributes=dict(authorization.attributes),
            created_at=now,
        )
        refresh_digest = token_hash(refresh_token) if refresh_token else None
        lifetime = REFRESH_TOKEN_TTL if refresh_token or access_ttl is None else access_ttl
        record = _grant_json(grant, refresh_digest)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("grant", grant.grant_id), record, ex=lifetime + EXPIRED_ACCESS_GRACE)
            if refresh_digest:
                pipe.set(self.key("refresh", refresh_digest), grant.grant_id, ex=REFRESH_TOKEN_TTL)
            pipe.sadd(self.key("subject", grant.subject), grant.grant_id)
            pipe.expire(self.key("subject", grant.subject), REFRESH_TOKEN_TTL)
            if code is not None:
                pipe.set(self.key("code-used", token_hash(code)), grant.grant_id, ex=CODE_GRACE)
            await pipe.execute()
        return await self.add_access_token(grant, access_token, access_ttl, now=now)

    async def add_access_token(
        self,
        grant: Grant,
        access_token: str,
        access_ttl: timedelta | None,
        *,
        now: datetime | None = None,
    ) -> Grant:
        now = now or utc_now()
        expires_at = now + access_ttl if access_ttl is not None else None
        keep = (access_ttl if access_ttl is not None else REFRESH_TOKEN_TTL) + EXPIRED_ACCESS_GRACE
        digest = token_hash(access_token)
        record = json.dumps(
            {
                "grant_id": grant.grant_id,
                "expires_at": expires_at.isoformat() if expires_at else None,
            }
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("access", digest), record, ex=keep)
            pipe.sadd(self.key("grant-access", grant.grant_id), digest)
            pipe.expire(self.key("grant-access", grant.grant_id), REFRESH_TOKEN_TTL + keep)
            await pipe.execute()
        return replace(grant, access_expires_at=expires_at)

    async def grant_for_refresh_token(self, refresh_token: str) -> Grant | None:
        grant_id = _text(await self.redis.get(self.key("refresh", token_hash(refresh_token))))
        return await self.load_grant(grant_id) if grant_id else None

    async def rotate_refresh_token(self, old: str, new: str) -> Grant | None:
        """Swap a refresh token for a new one (Stripe): the old one stops working at once, and
        of two concurrent refreshes with the same token only one succeeds."""
        grant_id = _text(await self.redis.getdel(self.key("refresh", token_hash(old))))
        if not grant_id:
            return None
        raw = await self.redis.get(self.key("grant", grant_id))
        if raw is None:
            return None
        data = json.loads(raw)
        data["refresh_hash"] = token_hash(new)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("grant", grant_id), json.dumps(data), keepttl=True)
            pipe.set(self.key("refresh", token_hash(new)), grant_id, ex=REFRESH_TOKEN_TTL)
            await pipe.execute()
        return _grant_from(self.provider, data)

    async def load_grant(self, grant_id: str) -> Grant | None:
        raw = await self.redis.get(self.key("grant", grant_id))
        return _grant_from(self.provider, json.loads(raw)) if raw is not None else None

    async def resolve_access_token(
        self, token: str, *, include_expired: bool = False, now: datetime | None = None
    ) -> Grant | None:
        raw = await self.redis.get(self.key("access", token_hash(token)))
        if raw is None:
            return None
        record = json.loads(raw)
        grant = await self.load_grant(record["grant_id"])
        if grant is None:  # revoked
            return None
        expires_at = datetime.fromisoformat(record["expires_at"]) if record["expires_at"] else None
        grant = replace(grant, access_expires_at=expires_at)
        if grant.is_expired(now) and not include_expired:
            return None
        return grant

    # -- revocation and expiry --------------------------------------------------------------

    async def revoke_grant(self, grant_id: str) -> bool:
        raw = await self.redis.get(self.key("grant", grant_id))
        if raw is None:
            return False
        data = json.loads(raw)
        access_digests = await self.redis.smembers(self.key("grant-access", grant_id))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key("grant", grant_id), self.key("grant-access", grant_id))
            if data.get("refresh_hash"):
                pipe.delete(self.key("refresh", data["refresh_hash"]))
            for digest in access_digests:
                pipe.delete(self.key("access", _text(digest)))
            pipe.srem(self.key("subject", data["subject"]), grant_id)
            await pipe.execute()
        return True

    async def revoke_token(self, token: str) -> Grant | None:
        """Revoke the grant behind a refresh or an access token; None when the token is not
        (or no longer) valid."""
        grant = await self.grant_for_refresh_token(token)
        if grant is None:
            grant = await self.resolve_access_token(token, include_expired=True)
        if grant is None:
            return None
        await self.revoke_grant(grant.grant_id)
        return grant

    async def grants_of(self, subject: str) -> list[Grant]:
        grant_ids = await self.redis.smembers(self.key("subject", subject))
        grants = [await self.load_grant(_text(grant_id)) for grant_id in sorted(grant_ids)]
        return [grant for grant in grants if grant is not None]

    async def revoke_subject(self, subject: str, *, client_id: str | None = None) -> int:
        """Disconnect a subject from a client (every client when None): each grant is revoked
        and the consent forgotten. Stripe's deauthorize, a Google account removing an app, a
        seller revoking an app in Seller Central."""
        revoked = 0
        for grant in await self.grants_of(subject):
            if client_id is None or grant.client_id == client_id:
                revoked += await self.revoke_grant(grant.grant_id)
        if client_id is None:
            await self.redis.delete(self.key("consented", subject))
        else:
            await self.redis.hdel(self.key("consented", subject), client_id)
        return revoked

    async def expire_access_tokens(
        self,
        *,
        token: str | None = None,
        subject: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Make access tokens expired now (kept, so they read as expired, not unknown)."""
        now = now or utc_now()
        digests: list[str] = []
        if token is not None:
            digests.append(token_hash(token))
        if subject is not None:
            for grant in await self.grants_of(subject):
                members = await self.redis.smembers(self.key("grant-access", grant.grant_id))
                digests.extend(_text(member) for member in members)
        expired = 0
        for digest in digests:
            key = self.key("access", digest)
            raw = await self.redis.get(key)
            if raw is None:
                continue
            record = json.loads(raw)
            if record["expires_at"] and datetime.fromisoformat(record["expires_at"]) <= now:
                continue
            record["expires_at"] = now.isoformat()
            await self.redis.set(key, json.dumps(record), ex=EXPIRED_ACCESS_GRACE)
            expired += 1
        return expired

    # -- consent memory ---------------------------------------------------------------------

    async def consented_scopes(self, client_id: str, subject: str) -> frozenset[str] | None:
        """The scopes this subject granted this client; None when it is not connected (never
        consented, or disconnected since)."""
        raw = await self.redis.hget(self.key("consented", subject), client_id)
        return frozenset(json.loads(raw)) if raw is not None else None

    async def remember_consent(self, client_id: str, subject: str, scopes: Iterable[str]) -> None:
        key = self.key("consented", subject)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, client_id, json.dumps(sorted(set(scopes))))
            pipe.expire(key, REFRESH_TOKEN_TTL)
            await pipe.execute()


# -- the module API used by the sandbox data APIs and by tests -------------------------------


async def resolve_access_token(
    redis: Redis,
    key_fn: KeyFn,
    provider: str,
    token: str,
    *,
    include_expired: bool = False,
    now: datetime | None = None,
) -> Grant | None:
    """Who a bearer token belongs to; None when it is unknown, revoked or (unless
    `include_expired`) expired. Check `grant.is_expired()` when including expired ones."""
    return await OAuthStore(redis, key_fn, provider).resolve_access_token(
        token, include_expired=include_expired, now=now
    )


async def revoke_refresh_token(redis: Redis, key_fn: KeyFn, provider: str, token: str) -> bool:
    """Revoke the grant of a refresh (or access) token: later refreshes are `invalid_grant`."""
    return await OAuthStore(redis, key_fn, provider).revoke_token(token) is not None


async def revoke_subject(redis: Redis, key_fn: KeyFn, provider: str, subject: str) -> int:
    """Revoke every grant of a selling partner / Google account / Stripe account."""
    return await OAuthStore(redis, key_fn, provider).revoke_subject(subject)


async def expire_access_tokens(
    redis: Redis,
    key_fn: KeyFn,
    provider: str,
    *,
    token: str | None = None,
    subject: str | None = None,
    now: datetime | None = None,
) -> int:
    """Expire one access token or all of a subject's now; returns how many were still live."""
    return await OAuthStore(redis, key_fn, provider).expire_access_tokens(
        token=token, subject=subject, now=now
    )


def _grant_json(grant: Grant, refresh_hash: str | None) -> str:
    return json.dumps(
        {
            "grant_id": grant.grant_id,
            "client_id": grant.client_id,
            "subject": grant.subject,
            "scopes": list(grant.scopes),
            "attributes": dict(grant.attributes),
            "created_at": grant.created_at.isoformat(),
            "refresh_hash": refresh_hash,
        }
    )


def _grant_from(provider: str, data: Mapping[str, Any]) -> Grant:
    return Grant(
        provider=provider,
        grant_id=data["grant_id"],
        client_id=data["client_id"],
        subject=data["subject"],
        scopes=tuple(data["scopes"]),
        attributes=dict(data["attributes"]),
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
