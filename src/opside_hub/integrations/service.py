"""OAuth `state`: 256 random bits, stored only as a SHA-256 hash, single use, 10 minutes.

The state binds a callback to the user and provider that started the flow (and keeps the PKCE
verifier, sealed). Every rejection — forged, reused, expired, other provider, other user —
happens before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.db.models import OAuthState, Token
from opside_hub.db.session import scope_to_user
from opside_hub.db.types import utcnow
from opside_hub.integrations import repository
from opside_hub.integrations.exceptions import ConnectDenied, ConnectFailed, InvalidState
from opside_hub.integrations.schemas import Integration
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.cipher import Owner, seal, unseal
from opside_hub.vault.keys import Keyring

STATE_TTL = timedelta(minutes=10)
STATE_MAX_LENGTH = 128
PROVIDERS = ("amazon", "gmail", "stripe")


@dataclass(frozen=True)
class IssuedState:
    value: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsumedState:
    user_id: str
    code_verifier: SecretStr | None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _verifier_owner(user_id: str, provider: str) -> Owner:
    return Owner(user_id=user_id, provider=provider, field="code_verifier")


async def issue_state(
    session: AsyncSession,
    keyring: Keyring,
    *,
    user_id: str,
    provider: str,
    code_verifier: str | None = None,
) -> IssuedState:
    value = secrets.token_urlsafe(32)
    expires_at = utcnow() + STATE_TTL
    session.add(
        OAuthState(
            state_hash=_hash(value),
            user_id=user_id,
            provider=provider,
            code_verifier_enc=seal(
                keyring, _verifier_owner(user_id, provider), SecretStr(code_verifier)
            )
            if code_verifier
            else None,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedState(value=value, expires_at=expires_at)


async def consume_state(
    session: AsyncSession,
    keyring: Keyring,
    *,
    value: str | None,
    provider: str,
    user_id: str | None = None,
) -> ConsumedState:
    """Validate and use up a state. `user_id`, when the caller is authenticated, must match."""
    if not value or len(value) > STATE_MAX_LENGTH:
        raise InvalidState("The authorization state is missing.", code="state_missing")
    digest = _hash(value)
    row = await repository.find_state(session, digest)
    if row is None or not hmac.compare_digest(row.state_hash, digest):
        raise InvalidState("The authorization state is unknown.", code="state_unknown")
    # Another user's state reads as unknown before anything else is said about it.
    if user_id is not None and row.user_id != user_id:
        raise InvalidState("The authorization state is unknown.", code="state_unknown")
    if row.provider != provider:
        raise InvalidState(
            "The authorization state belongs to another provider.", code="state_wrong_provider"
        )
    now = utcnow()
    if row.used_at is not None:
        raise InvalidState("The authorization state was already used.", code="state_reused")
    if row.expires_at <= now:
        raise InvalidState("The authorization state has expired.", code="state_expired")
    if not await repository.claim_state(session, row.id, now):
        raise InvalidState("The authorization state was already used.", code="state_reused")
    verifier = (
        unseal(keyring, _verifier_owner(row.user_id, provider), row.code_verifier_enc)
        if row.code_verifier_enc
        else None
    )
    return ConsumedState(user_id=row.user_id, code_verifier=verifier)


async def accept_callback(
    session: AsyncSession,
    keyring: Keyring,
    *,
    provider: str,
    state: str | None,
    error: str | None,
    required: dict[str, str | None],
) -> ConsumedState:
    """The common start of every OAuth callback: use up the state, scope the transaction to its
    user, then refuse a denial or a callback missing one of its `required` parameters."""
    consumed = await consume_state(session, keyring, value=state, provider=provider)
    await scope_to_user(session, consumed.user_id)
    if error:
        raise ConnectDenied(code="access_denied" if error == "access_denied" else error[:64])
    if missing := [name for name, value in required.items() if not value]:
        raise ConnectFailed(f"The callback lacks {', '.join(missing)}.", code="invalid_callback")
    return consumed


async def purge_expired_states(session: AsyncSession, *, older_than: timedelta) -> int:
    return await repository.purge_states(session, utcnow() - older_than)


async def list_integrations(session: AsyncSession, user_id: str) -> dict[str, Integration]:
    rows = {row.provider: row for row in await vault_repository.list_tokens(session, user_id)}
    return {provider: _integration(provider, rows.get(provider)) for provider in PROVIDERS}


def _integration(provider: str, row: Token | None) -> Integration:
    if row is None:
        return Integration(provider=provider, connected=False, status="not_connected")
    return Integration(
        provider=provider,
        connected=row.status == "active",
        status=row.status,
        account_id=row.account_id,
        scopes=row.scopes or [],
        expires_at=row.expires_at,
        last_refreshed_at=row.last_refreshed_at,
        connected_at=row.created_at,
        last_sync_at=None,
        details=_public_details(row),
    )


def _public_details(row: Token) -> dict[str, object]:
    # Only what a seller may see about their own connection; never token material.
    allowed = ("marketplaces", "email", "livemode", "region")
    return {key: value for key, value in (row.details or {}).items() if key in allowed}
