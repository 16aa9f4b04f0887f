"""Publishing events, the snapshot a socket starts from, and the WebSocket Origin policy.

`publish` is best effort by design: the database is the truth about every sync and Redis only
carries news of it (DESIGN §2). A failed publish is logged and returns 0 instead of failing the
caller's job; a socket that missed an event catches up from `sync_snapshot`, which it is sent on
connect and again after its process's hub reconnects to Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from redis.exceptions import RedisError

from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.core.redis import RedisServer
from opside_hub.db.session import scope_to_user
from opside_hub.realtime.repository import active_syncs
from opside_hub.realtime.schemas import SYNC_PROGRESS_UPDATE, encode_event
from opside_hub.runtime import Runtime
from opside_hub.sync.schemas import status_of

log = get_logger(__name__)

EventData = BaseModel | Mapping[str, Any] | Sequence[Any] | None


def events_channel(redis_server: RedisServer, user_id: str) -> str:
    return redis_server.key("events", user_id)


async def publish(runtime: Runtime, user_id: str, event: str, data: EventData) -> int:
    """Send `{"event": event, "data": data}` to every socket of `user_id`, in every API process.

    `data` is a JSON-able mapping or a pydantic model, dumped in its JSON form with camelCase
    aliases, e.g. `publish(runtime, user_id, "sync_progress_update", status_of(job))`. Publish
    after the commit that made the change, so a socket never sees a state the database does
    not have yet. Returns how many hubs (API processes) received it; 0 when Redis is unreachable.
    """
    message = encode_event(event, data)
    try:
        receivers = await runtime.redis.publish(
            events_channel(runtime.redis_server, user_id), message
        )
    except RedisError as exc:
        log.warning(
            "realtime.publish_failed",
            realtime_event=event,
            user_id=user_id,
            error_type=type(exc).__name__,
        )
        return 0
    return int(receivers)


async def sync_snapshot(runtime: Runtime, user_id: str) -> list[str]:
    """The user's queued and running syncs as `sync_progress_update` frames."""
    async with runtime.sessions() as session:
        await scope_to_user(session, user_id)
        jobs = await active_syncs(session, user_id)
        return [encode_event(SYNC_PROGRESS_UPDATE, status_of(job)) for job in jobs]


def origin_allowed(origin: str | None, host: str | None, settings: Settings) -> bool:
    """Browsers always send `Origin` on a WebSocket handshake, and CORS does not apply to
    WebSockets, so with `CORS_ORIGINS` set we check it here: the allowlist, this server's
    `PUBLIC_URL`, or the same host the request came to (the dashboard this server serves).
    Clients that send no Origin (servers, CLIs) are not browsers and are let through: the token
    is what authenticates them."""
    if origin is None or not settings.cors_origins or "*" in settings.cors_origins:
        return True
    candidate = _normalize_origin(origin)
    allowed = {_normalize_origin(value) for value in settings.cors_origins}
    if settings.public_url:
        allowed.add(_normalize_origin(settings.public_url))
    if candidate in allowed:
        return True
    return host is not None and urlsplit(candidate).netloc == host.strip().lower()


def _normalize_origin(value: str) -> str:
    parts = urlsplit(value.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else value.lower()
