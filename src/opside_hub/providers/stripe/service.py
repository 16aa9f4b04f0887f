"""Connecting a seller's existing Stripe account through Connect OAuth."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.logging import get_logger
from opside_hub.db.models import User
from opside_hub.db.session import scope_to_user
from opside_hub.integrations.exceptions import ConnectDenied, ConnectFailed, DisconnectFailed
from opside_hub.integrations.schemas import AuthStart, Connected
from opside_hub.integrations.service import consume_state, issue_state
from opside_hub.providers.oauth2 import OAuthError
from opside_hub.providers.stripe import oauth
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import save_grant

log = get_logger(__name__)
PROVIDER = oauth.PROVIDER


async def start_connect(session: AsyncSession, runtime: Runtime, user: User) -> AuthStart:
    state = await issue_state(session, runtime.keyring, user_id=user.id, provider=PROVIDER)
    return AuthStart(
        auth_url=oauth.authorization_url(runtime.settings, state.value, user.email),
        state=state.value,
        expires_at=state.expires_at,
    )


async def complete_callback(
    session: AsyncSession,
    runtime: Runtime,
    *,
    state: str | None,
    code: str | None,
    error: str | None = None,
) -> Connected:
    consumed = await consume_state(session, runtime.keyring, value=state, provider=PROVIDER)
    await scope_to_user(session, consumed.user_id)
    if error:
        raise ConnectDenied(code="access_denied" if error == "access_denied" else error[:64])
    if not code:
        raise ConnectFailed("The callback lacks the authorization code.", code="invalid_callback")
    return await _exchange_and_store(session, runtime, consumed.user_id, code)


async def connect_with_code(
    session: AsyncSession, runtime: Runtime, user: User, *, code: str, state: str | None
) -> Connected:
    if state is not None:
        await consume_state(
            session, runtime.keyring, value=state, provider=PROVIDER, user_id=user.id
        )
    return await _exchange_and_store(session, runtime, user.id, code)


async def _exchange_and_store(
    session: AsyncSession, runtime: Runtime, user_id: str, code: str
) -> Connected:
    try:
        grant = await oauth.exchange_code(runtime.http, runtime.settings, code)
    except OAuthError as exc:
        raise ConnectFailed(details={"providerError": exc.error}) from exc
    account_id = str(grant.extra.get("stripe_user_id", ""))
    if not account_id.startswith("acct_"):
        raise ConnectFailed("Stripe did not name the connected account.", code="stripe_no_account")
    await save_grant(
        session,
        runtime.keyring,
        user_id=user_id,
        provider=PROVIDER,
        grant=grant,
        account_id=account_id,
        details={"livemode": bool(grant.extra.get("livemode", False))},
    )
    log.info("stripe.connected", user_id=user_id)
    return Connected(provider=PROVIDER, connected=True, account_id=account_id)


async def disconnect(session: AsyncSession, runtime: Runtime, user: User) -> bool:
    row = await vault_repository.get_token(session, user.id, PROVIDER)
    if row is None:
        return False
    if row.account_id:
        try:
            await oauth.deauthorize(runtime.http, runtime.settings, row.account_id)
        except OAuthError as exc:
            raise DisconnectFailed(details={"error": exc.error}) from exc
    return await vault_repository.delete_token(session, user.id, PROVIDER)
