"""Per-user and per-IP rate limits with the `limits` library's async API, stored in Redis.

The client IP is the TCP peer unless that peer is a configured trusted proxy; only then is
`X-Forwarded-For` read, right to left, skipping our own proxies. A spoofed header from an
untrusted client is ignored. The user key comes from a verified token only, so a forged token
cannot spend another user's budget. While Redis is unreachable the limits fail open (logged as
`ratelimit.unavailable`), so a Redis restart does not turn every request into an error.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from opside_hub.auth.exceptions import InvalidToken
from opside_hub.auth.service import decode_user_token
from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.core.middleware import send_json
from opside_hub.core.redis import RedisServer
from opside_hub.core.schemas import error_content

log = get_logger(__name__)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
EXEMPT_PREFIXES = ("/health", "/sandbox/")


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def client_ip(scope: Scope, trusted: list[IPNetwork]) -> str:
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = ""
    for key, value in scope.get("headers", []):
        if key == b"x-forwarded-for":
            forwarded = (
                f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
            )
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else str(peer)
    return str(peer)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class RateLimiter:
    """The limits; its Redis storage is attached once the runtime knows where Redis is."""

    def __init__(self, settings: Settings) -> None:
        self.per_user: RateLimitItem = parse(settings.rate_limit_per_user)
        self.per_ip: RateLimitItem = parse(settings.rate_limit_per_ip)
        self._limiter: MovingWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None

    def attach(self, redis: RedisServer) -> None:
        # Our own pool, so that `close` can release it: the `limits` storage has no close.
        self._pool = ConnectionPool.from_url(redis.url)
        storage = RedisStorage(
            redis.limits_uri,
            implementation="redispy",
            key_prefix=redis.key("ratelimit"),
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def close(self) -> None:
        pool, self._pool, self._limiter = self._pool, None, None
        if pool is None:
            return
        try:
            await pool.aclose()
        except Exception as exc:  # shutting down: report and carry on
            log.warning("ratelimit.close_failed", error_type=type(exc).__name__)

    async def retry_after(self, item: RateLimitItem, key: str) -> int | None:
        """Spend one hit; None when allowed, else the seconds until the window frees a slot."""
        if self._limiter is None:
            raise RuntimeError("rate limiter used before the runtime started")
        if await self._limiter.hit(item, key):
            return None
        stats = await self._limiter.get_window_stats(item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.trusted = parse_networks(settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        checks = [(self.limiter.per_ip, f"ip:{client_ip(scope, self.trusted)}", "ip")]
        if user_id := self._user_id(scope):
            checks.append((self.limiter.per_user, f"user:{user_id}", "user"))
        for item, key, scope_name in checks:
            try:
                retry_after = await self.limiter.retry_after(item, key)
            except RedisError as exc:
                # Fail open: Redis is a transport (DESIGN §2); while it restarts, routes that
                # need only the database keep answering instead of failing with a 500.
                log.warning("ratelimit.unavailable", error_type=type(exc).__name__)
                break
            if retry_after is not None:
                await send_json(
                    send,
                    429,
                    error_content("rate_limited", f"Too many requests for this {scope_name}."),
                    headers={"Retry-After": str(retry_after)},
                )
                return
        await self.app(scope, receive, send)

    def _user_id(self, scope: Scope) -> str | None:
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                try:
                    return decode_user_token(token.strip(), self.settings.auth).user_id
                except InvalidToken:
                    return None
        return None
