"""The token vault: store provider grants sealed, hand out access tokens that are always fresh.

`get_access_token` is the one way code obtains a provider token. Its fast path is one indexed
read and one decryption. When the token expires within `REFRESH_MARGIN` (or the provider has
just rejected it), exactly one refresh happens however many callers ask at once:
- callers in one process share one in-flight refresh (`SingleFlight`);
- across processes a Redis lock serializes refreshes, and the winner's successors re-read the
  row after the lock, find the fresh token and do not refresh again.
The refresh commits in its own transaction, not the caller's: the provider may already have
rotated the refresh token (Stripe), and losing that on a caller's rollback would lose the
connection. `invalid_grant` marks the connection `needs_reauth` instead of retrying forever.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from pydantic import SecretStr
from redis.exceptions import LockError
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.config import Settings
from opside_hub.core.logging import get_logger
from opside_hub.db.models import OAuthState, Token
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.observability.metrics import count_token_refresh
from opside_hub.providers.amazon import oauth as amazon_oauth
from opside_hub.providers.gmail import oauth as gmail_oauth
from opside_hub.providers.oauth2 import OAuthError, TokenGrant
from opside_hub.providers.stripe import oauth as stripe_oauth
from opside_hub.runtime import Runtime
from opside_hub.vault import repository
from opside_hub.vault.cipher import Owner, key_id_of, seal, unseal
from opside_hub.vault.exceptions import (
    NotConnected,
    ReauthorizationRequired,
    TokenRefreshFailed,
)
from opside_hub.vault.keys import Keyring

log = get_logger(__name__)

PROVIDERS = ("amazon", "gmail", "stripe")
REFRESH_MARGIN = timedelta(minutes=5)
LOCK_TTL_S = 30
KEEPALIVE_AFTER = timedelta(days=7)

Refresher = Callable[[httpx2.AsyncClient, Settings, SecretStr], Awaitable[TokenGrant]]
REFRESHERS: dict[str, Refresher] = {
    "amazon": amazon_oauth.refresh,
    "gmail": gmail_oauth.refresh,
    "stripe": stripe_oauth.refresh,
}


def _owner(row: Token, field: str) -> Owner:
    return Owner(user_id=row.user_id, provider=row.provider, field=field)


def open_access_token(keyring: Keyring, row: Token) -> SecretStr:
    if row.access_token_enc is None:
        raise NotConnected()
    return unseal(keyring, _owner(row, "access_token"), row.access_token_enc)


def open_refresh_token(keyring: Keyring, row: Token) -> SecretStr | None:
    if row.refresh_token_enc is None:
        return None
    return unseal(keyring, _owner(row, "refresh_token"), row.refresh_token_enc)


async def save_grant(
    session: AsyncSession,
    keyring: Keyring,
    *,
    user_id: str,
    provider: str,
    grant: TokenGrant,
    account_id: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Token:
    """Store a grant for (user, provider): a new connection, a reconnect, or a refresh.

    A grant without a refresh token (Google's refreshes, LWA's) keeps the stored one; a grant
    with one replaces it (Stripe rotates).
    """
    now = now or utcnow()
    row = await repository.get_token(session, user_id, provider)
    if row is None:
        row = Token(user_id=user_id, provider=provider, details={}, scopes=[])
        session.add(row)
    row.access_token_enc = seal(keyring, _owner(row, "access_token"), grant.access_token)
    if grant.refresh_token is not None:
        row.refresh_token_enc = seal(keyring, _owner(row, "refresh_token"), grant.refresh_token)
    row.expires_at = grant.expires_at(now)
    if grant.scopes:
        row.scopes = list(grant.scopes)
    if account_id is not None:
        row.account_id = account_id
    if details:
        row.details = {**(row.details or {}), **details}
    row.status = "active"
    row.last_error = None
    row.last_refreshed_at = now
    await session.flush()
    return row


async def get_access_token(
    runtime: Runtime,
    user_id: str,
    provider: str,
    *,
    rejected: SecretStr | None = None,
    force: bool = False,
) -> SecretStr:
    """An access token valid for at least `REFRESH_MARGIN`.

    `rejected` is a token the provider just answered 401 to: if it is still the stored one, it
    is refreshed even though its clock says it is valid. `force` refreshes regardless.
    """
    if not force:
        async with runtime.sessions() as session:
            row = await _connected_row(session, user_id, provider)
            token = open_access_token(runtime.keyring, row)
            if _usable(row, token, rejected, utcnow()):
                return token
    return await runtime.single_flight.run(
        ("vault.refresh", user_id, provider),
        lambda: _refresh_under_lock(runtime, user_id, provider, rejected, force),
    )


async def _refresh_under_lock(
    runtime: Runtime, user_id: str, provider: str, rejected: SecretStr | None, force: bool
) -> SecretStr:
    lock = runtime.redis.lock(
        runtime.redis_server.key("vault", "refresh", user_id, provider),
        timeout=LOCK_TTL_S,
        blocking_timeout=LOCK_TTL_S + 5,
    )
    try:
        async with lock:
            return await _refresh(runtime, user_id, provider, rejected, force)
    except LockError as exc:
        raise TokenRefreshFailed("Another refresh of this connection did not finish.") from exc


async def _refresh(
    runtime: Runtime, user_id: str, provider: str, rejected: SecretStr | None, force: bool
) -> SecretStr:
    async with transaction(runtime.sessions) as session:
        row = await _connected_row(session, user_id, provider)
        current = open_access_token(runtime.keyring, row)
        # Another process may have refreshed while we waited for the lock.
        if not force and _usable(row, current, rejected, utcnow()):
            return current
        refresh_token = open_refresh_token(runtime.keyring, row)
        if refresh_token is None:
            raise ReauthorizationRequired("This connection has no refresh token.")
        try:
            grant = await REFRESHERS[provider](runtime.http, runtime.settings, refresh_token)
        except OAuthError as exc:
            count_token_refresh(provider, "invalid_grant" if exc.invalid_grant else "error")
            if not exc.invalid_grant:
                log.warning(
                    "vault.token.refresh_failed",
                    user_id=user_id,
                    provider=provider,
                    error=exc.error,
                    status=exc.status_code,
                )
                raise TokenRefreshFailed() from exc
            row.status = "needs_reauth"
            row.last_error = "invalid_grant"
        else:
            await save_grant(
                session, runtime.keyring, user_id=user_id, provider=provider, grant=grant
            )
            count_token_refresh(provider, "ok")
            log.info("vault.token.refreshed", user_id=user_id, provider=provider)
            return grant.access_token
    # Reached only on invalid_grant, after the `needs_reauth` mark has been committed.
    log.warning("vault.token.needs_reauth", user_id=user_id, provider=provider)
    raise ReauthorizationRequired()


async def _connected_row(session: AsyncSession, user_id: str, provider: str) -> Token:
    row = await repository.get_token(session, user_id, provider)
    if row is None or row.access_token_enc is None:
        raise NotConnected()
    if row.status == "needs_reauth":
        raise ReauthorizationRequired()
    if row.status != "active":
        raise NotConnected()
    return row


def _usable(row: Token, token: SecretStr, rejected: SecretStr | None, now: datetime) -> bool:
    if rejected is not None and hmac.compare_digest(
        token.get_secret_value().encode(), rejected.get_secret_value().encode()
    ):
        return False
    return row.expires_at is None or row.expires_at > now + REFRESH_MARGIN


async def refresh_idle_connections(runtime: Runtime, *, batch: int = 100) -> int:
    """Refresh connections unused for `KEEPALIVE_AFTER`, so refresh tokens that lapse when idle
    (Google's, after months) stay alive. Returns how many were refreshed."""
    async with runtime.sessions() as session:
        due = await repository.tokens_refreshed_before(session, utcnow() - KEEPALIVE_AFTER, batch)
    refreshed = 0
    for user_id, provider in due:
        try:
            await get_access_token(runtime, user_id, provider, force=True)
        except (ReauthorizationRequired, NotConnected, TokenRefreshFailed) as exc:
            log.warning(
                "vault.keepalive.failed", user_id=user_id, provider=provider, error=exc.code
            )
            continue
        refreshed += 1
    return refreshed


@dataclass
class RotationResult:
    rows_seen: int = 0
    values_resealed: int = 0
    values_skipped: int = 0  # changed concurrently (a refresh sealed it anew already)


async def rotate_keys(
    runtime: Runtime,
    *,
    batch_size: int = 200,
    on_batch: Callable[[RotationResult], None] | None = None,
) -> RotationResult:
    """Re-seal every stored secret under the newest key, a batch per transaction.

    Online and idempotent: values already under the current key are left alone; each update
    is conditional on the old ciphertext, so a refresh racing the rotation wins and nothing is
    lost. Safe to interrupt and run again.
    """
    keyring, result = runtime.keyring, RotationResult()
    for model, fields, fetch in (
        (Token, ("access_token", "refresh_token"), repository.token_batch),
        (OAuthState, ("code_verifier",), repository.state_batch),
    ):
        after = ""
        while True:
            async with transaction(runtime.sessions) as session:
                rows = await fetch(session, after, batch_size)
                for row in rows:
                    result.rows_seen += 1
                    for field in fields:
                        await _reseal(session, keyring, model, row, field, result)
            if not rows:
                break
            after = rows[-1].id
            if on_batch:
                on_batch(result)
    return result


async def _reseal(
    session: AsyncSession,
    keyring: Keyring,
    model: type[Token] | type[OAuthState],
    row: Token | OAuthState,
    field: str,
    result: RotationResult,
) -> None:
    column = f"{field}_enc"
    sealed: str | None = getattr(row, column)
    if sealed is None or key_id_of(sealed) == keyring.current.id:
        return
    owner = Owner(user_id=row.user_id, provider=row.provider, field=field)
    fresh = seal(keyring, owner, unseal(keyring, owner, sealed))
    if await repository.replace_sealed(session, model, row.id, column, sealed, fresh):
        result.values_resealed += 1
    else:
        result.values_skipped += 1
