"""Connecting a seller's existing Stripe account through Connect OAuth; reading what was synced
and the account itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.logging import get_logger
from opside_hub.core.pagination import PageParams, encode_cursor
from opside_hub.core.schemas import Money, Page, PageMeta
from opside_hub.db.models import StripeBalanceTransaction, User
from opside_hub.db.types import utcnow
from opside_hub.integrations.exceptions import ConnectFailed, DisconnectFailed
from opside_hub.integrations.schemas import AuthStart, Connected
from opside_hub.integrations.service import accept_callback, consume_state, issue_state
from opside_hub.providers.oauth2 import OAuthError
from opside_hub.providers.stripe import oauth, repository
from opside_hub.providers.stripe.client import StripeApiError, StripeClient
from opside_hub.providers.stripe.exceptions import StripeAccountNotFound, TransactionNotFound
from opside_hub.providers.stripe.schemas import (
    BalanceTransaction,
    ConnectedAccount,
    FeeDetail,
    OnboardingStatus,
)
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
    consumed = await accept_callback(
        session,
        runtime.keyring,
        provider=PROVIDER,
        state=state,
        error=error,
        required={"code": code},
    )
    assert code is not None
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


# Reading synced data -------------------------------------------------------------------------


async def transactions_page(
    session: AsyncSession, user: User, filters: repository.TransactionFilters, page: PageParams
) -> Page[BalanceTransaction]:
    rows, after = await repository.list_transactions(session, user.id, filters, page)
    now = utcnow()
    return Page(
        data=[transaction_item(row, now) for row in rows],
        meta=PageMeta(next_cursor=encode_cursor(*after) if after else None),
    )


async def get_transaction(
    session: AsyncSession, user: User, transaction_id: str
) -> BalanceTransaction:
    row = await repository.get_transaction(session, user.id, transaction_id)
    if row is None:
        raise TransactionNotFound()
    return transaction_item(row, utcnow())


def transaction_item(row: StripeBalanceTransaction, now: datetime) -> BalanceTransaction:
    raw: dict[str, Any] = row.raw or {}
    currency = row.currency

    def money(amount: int, code: object = None) -> Money:
        return Money(amount=amount, currency=str(code or currency).upper())

    # Stripe's `pending` means "until available_on": past that date the funds are available,
    # whether or not a later sync re-read the row.
    status = row.status
    if status == "pending" and row.available_on is not None and row.available_on <= now:
        status = "available"
    exchange_rate = raw.get("exchange_rate")
    return BalanceTransaction(
        id=row.row_key,
        account=row.stripe_account_id,
        type=row.type,
        status=status,
        reporting_category=row.reporting_category,
        amount=money(row.amount),
        fee=money(row.fee),
        net=money(row.net),
        exchange_rate=float(exchange_rate) if isinstance(exchange_rate, int | float) else None,
        fee_details=[
            FeeDetail(
                amount=money(int(item.get("amount") or 0), item.get("currency")),
                type=str(item.get("type") or ""),
                description=item.get("description"),
                application=item.get("application"),
            )
            for item in raw.get("fee_details") or []
            if isinstance(item, dict)
        ],
        description=row.description,
        source=row.source,
        created=row.created,
        available_on=row.available_on,
        synced_at=row.synced_at,
    )


async def onboarding_status(session: AsyncSession, user: User) -> OnboardingStatus:
    account = await repository.get_express_account(session, user.id)
    return OnboardingStatus(status="created" if account is not None else "not_found")


async def connected_account(
    session: AsyncSession, runtime: Runtime, user: User
) -> ConnectedAccount:
    """The account the seller connected (OAuth), else the Express account Opside opened, as
    Stripe's `GET /v1/account` describes it now."""
    token = await vault_repository.get_token(session, user.id, PROVIDER)
    if token is not None and token.status == "active" and token.account_id:
        account_id, connection = token.account_id, "oauth"
    elif (express := await repository.get_express_account(session, user.id)) is not None:
        account_id, connection = express.stripe_account_id, "express"
    else:
        raise StripeAccountNotFound()
    try:
        account = await StripeClient.for_platform(runtime).retrieve_account(account_id)
    except StripeApiError as exc:
        if exc.account_unavailable:
            raise StripeAccountNotFound(
                "Stripe refused access to this account; connect Stripe again."
            ) from exc
        raise
    profile = account.get("business_profile") or {}
    requirements = account.get("requirements") or {}
    created = account.get("created")
    currency = account.get("default_currency")
    return ConnectedAccount(
        id=str(account.get("id") or account_id),
        connection="oauth" if connection == "oauth" else "express",
        type=account.get("type"),
        email=account.get("email"),
        country=account.get("country"),
        default_currency=str(currency).upper() if currency else None,
        business_name=profile.get("name") if isinstance(profile, dict) else None,
        charges_enabled=bool(account.get("charges_enabled")),
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_currently_due=list(requirements.get("currently_due") or [])
        if isinstance(requirements, dict)
        else [],
        created=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )
