"""Connecting a seller's Amazon account (Seller Central website authorization)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.logging import get_logger
from opside_hub.core.pagination import PageParams, encode_cursor
from opside_hub.core.queue import defer_job
from opside_hub.core.schemas import Money, Page, PageMeta
from opside_hub.db.models import User
from opside_hub.integrations.exceptions import ConnectFailed
from opside_hub.integrations.schemas import AuthStart, Connected
from opside_hub.integrations.service import accept_callback, issue_state
from opside_hub.providers.amazon import oauth, repository
from opside_hub.providers.amazon.client import (
    SpApiError,
    get_marketplace_participations,
    summarize_marketplaces,
)
from opside_hub.providers.amazon.schemas import Claim, Fee, InventoryItem
from opside_hub.providers.oauth2 import OAuthError
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.service import save_grant

log = get_logger(__name__)
PROVIDER = oauth.PROVIDER
# Jobs run after the connection commits (their handlers live in onboarding/ and sync/).
ONBOARD_STRIPE_JOB = "onboarding.stripe_account.create"
START_SYNC_JOB = "sync.start_for_user"


async def start_connect(session: AsyncSession, runtime: Runtime, user: User) -> AuthStart:
    state = await issue_state(session, runtime.keyring, user_id=user.id, provider=PROVIDER)
    return AuthStart(
        auth_url=oauth.authorization_url(runtime.settings, state.value),
        state=state.value,
        expires_at=state.expires_at,
    )


async def complete_connect(
    session: AsyncSession,
    runtime: Runtime,
    *,
    state: str | None,
    selling_partner_id: str | None,
    code: str | None,
    error: str | None = None,
) -> Connected:
    consumed = await accept_callback(
        session,
        runtime.keyring,
        provider=PROVIDER,
        state=state,
        error=error,
        required={"spapi_oauth_code": code, "selling_partner_id": selling_partner_id},
    )
    assert code is not None
    assert selling_partner_id is not None
    try:
        grant = await oauth.exchange_code(runtime.http, runtime.settings, code)
    except OAuthError as exc:
        raise ConnectFailed(details={"providerError": exc.error}) from exc
    details: dict[str, object] = {}
    try:
        participations = await get_marketplace_participations(
            runtime.http, runtime.settings.endpoints().amazon_spapi_base_url, grant.access_token
        )
        details["marketplaces"] = summarize_marketplaces(participations)
    except (SpApiError, ValueError) as exc:
        # The grant is precious (the code was single use): keep the connection and fetch the
        # marketplaces again at the first sync instead of failing the whole connect.
        log.warning(
            "amazon.connect.marketplaces_unavailable",
            user_id=consumed.user_id,
            error_type=type(exc).__name__,
        )
    await save_grant(
        session,
        runtime.keyring,
        user_id=consumed.user_id,
        provider=PROVIDER,
        grant=grant,
        account_id=selling_partner_id,
        details=details,
    )
    defer_job(
        session,
        ONBOARD_STRIPE_JOB,
        user_id=consumed.user_id,
        job_options={"key": f"{ONBOARD_STRIPE_JOB}:{consumed.user_id}"},
    )
    defer_job(session, START_SYNC_JOB, user_id=consumed.user_id, trigger="oauth")
    log.info("amazon.connected", user_id=consumed.user_id)
    return Connected(provider=PROVIDER, connected=True, account_id=selling_partner_id)


async def disconnect(session: AsyncSession, user: User) -> bool:
    """Forget the tokens. LWA has no revocation endpoint: the seller revokes the app in Seller
    Central; once the row is gone no schedule or job can use the connection again."""
    return await vault_repository.delete_token(session, user.id, PROVIDER)


# Reading synced data -------------------------------------------------------------------------


def claim_id(source: str, row_key: str) -> str:
    """Reimbursement rows: `reimbursementId:sku[:originalId:originalType]`; adjustments: `adj:…`."""
    if source == "adjustment":
        return f"adj:{row_key}"
    return ":".join(row_key.split("|")).rstrip(":")


async def claims_page(
    session: AsyncSession, user: User, filters: repository.ClaimFilters, page: PageParams
) -> Page[Claim]:
    rows, after = await repository.list_claims(session, user.id, filters, page)
    items = [
        Claim(
            claim_id=claim_id(row.source, row.row_key),
            source=row.source,
            reimbursement_id=row.reimbursement_id,
            case_id=row.case_id,
            amazon_order_id=row.amazon_order_id,
            original_reimbursement_id=row.original_reimbursement_id,
            sku=row.sku,
            fnsku=row.fnsku,
            asin=row.asin,
            reason=row.reason,
            condition=row.condition,
            quantity_cash=row.quantity_cash,
            quantity_inventory=row.quantity_inventory,
            amount_per_unit=Money(amount=row.amount_per_unit, currency=row.currency),
            amount=Money(amount=row.amount, currency=row.currency),
            approved_at=_utc(row.approved_at),
            status=row.status,
        )
        for row in rows
    ]
    return Page(data=items, meta=PageMeta(next_cursor=encode_cursor(*after) if after else None))


def _utc(value: object) -> datetime | None:
    """Union columns lose the type decorator on some engines: make them aware UTC again."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def inventory_page(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    sku: str | None,
    asin: str | None,
    marketplace_id: str | None,
) -> Page[InventoryItem]:
    rows, after = await repository.list_inventory(
        session, user.id, page, sku=sku, asin=asin, marketplace_id=marketplace_id
    )
    items = [
        InventoryItem(
            marketplace_id=row.marketplace_id,
            sku=row.sku,
            fnsku=row.fnsku,
            asin=row.asin,
            condition=row.condition,
            product_name=row.product_name,
            total_quantity=row.total_quantity,
            fulfillable_quantity=row.fulfillable_quantity,
            last_updated_at=row.last_updated_at,
            synced_at=row.synced_at,
        )
        for row in rows
    ]
    return Page(data=items, meta=PageMeta(next_cursor=encode_cursor(*after) if after else None))


async def fees_page(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    fee_type: str | None,
    sku: str | None,
    posted_from: datetime | None,
    posted_to: datetime | None,
) -> Page[Fee]:
    rows, after = await repository.list_fees(
        session,
        user.id,
        page,
        fee_type=fee_type,
        sku=sku,
        posted_from=posted_from,
        posted_to=posted_to,
    )
    items = [
        Fee(
            id=f"fee:{row.row_key}",
            source="financial_event",
            event_group=row.event_group,
            fee_type=row.event_type,
            posted_at=row.posted_at,
            amazon_order_id=row.amazon_order_id,
            sku=row.sku,
            asin=row.asin,
            quantity=row.quantity,
            amount=Money(amount=row.amount, currency=row.currency),
            description=row.description,
        )
        for row in rows
    ]
    return Page(data=items, meta=PageMeta(next_cursor=encode_cursor(*after) if after else None))
