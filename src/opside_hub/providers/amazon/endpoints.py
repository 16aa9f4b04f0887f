from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opside_hub.api.deps import CurrentUser, RuntimeDep, SessionDep
from opside_hub.core.pagination import PageDep
from opside_hub.core.schemas import Envelope, Page
from opside_hub.core.timeparams import IsoDatetime, aware
from opside_hub.integrations.callbacks import CALLBACK_RESPONSES, answer_callback
from opside_hub.integrations.schemas import AuthStart, Disconnected
from opside_hub.providers.amazon import service
from opside_hub.providers.amazon.repository import ClaimFilters
from opside_hub.providers.amazon.schemas import Claim, ClaimSource, ClaimStatus, Fee, InventoryItem

router = APIRouter(prefix="/amazon", tags=["amazon"])
# Public: Seller Central redirects the seller's browser here; the state identifies the user.
public_router = APIRouter(prefix="/amazon", tags=["amazon"])


@router.get("/auth", response_model=Envelope[AuthStart], summary="Start Seller Central consent")
async def auth(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Envelope[AuthStart]:
    return Envelope(data=await service.start_connect(session, runtime, user))


@public_router.get(
    "/callback",
    summary="Seller Central redirect: store the tokens, then redirect to FRONTEND_URL",
    responses=CALLBACK_RESPONSES,
    response_class=Response,
)
async def callback(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    state: str | None = None,
    selling_partner_id: str | None = None,
    spapi_oauth_code: str | None = None,
    error: str | None = None,
) -> Response:
    return await answer_callback(
        request,
        runtime.settings,
        service.PROVIDER,
        service.complete_connect(
            session,
            runtime,
            state=state,
            selling_partner_id=selling_partner_id,
            code=spapi_oauth_code,
            error=error,
        ),
    )


@router.delete(
    "/disconnect",
    response_model=Envelope[Disconnected],
    summary="Forget the Amazon tokens and stop its syncs",
)
async def disconnect(user: CurrentUser, session: SessionDep) -> Envelope[Disconnected]:
    removed = await service.disconnect(session, user)
    return Envelope(data=Disconnected(provider=service.PROVIDER, disconnected=removed))


@router.get(
    "/claims",
    response_model=Page[Claim],
    summary="Reimbursements and adjustments (synced data), newest first",
)
async def claims(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    source: Annotated[ClaimSource | None, Query()] = None,
    status: Annotated[ClaimStatus | None, Query()] = None,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    asin: Annotated[str | None, Query(max_length=32)] = None,
    reason: Annotated[str | None, Query(max_length=128)] = None,
    from_: Annotated[
        IsoDatetime | None, Query(alias="from", description="approvedAt ≥ (ISO 8601)")
    ] = None,
    to: Annotated[IsoDatetime | None, Query(description="approvedAt < (ISO 8601)")] = None,
) -> Page[Claim]:
    filters = ClaimFilters(
        source=source,
        status=status,
        sku=sku,
        asin=asin,
        reason=reason,
        approved_from=aware(from_, "from"),
        approved_to=aware(to, "to"),
    )
    return await service.claims_page(session, user, filters, page)


@router.get(
    "/inventory", response_model=Page[InventoryItem], summary="Synced FBA inventory summaries"
)
async def inventory(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    asin: Annotated[str | None, Query(max_length=32)] = None,
    marketplace_id: Annotated[str | None, Query(alias="marketplaceId", max_length=32)] = None,
) -> Page[InventoryItem]:
    return await service.inventory_page(
        session, user, page, sku=sku, asin=asin, marketplace_id=marketplace_id
    )


@router.get("/fees", response_model=Page[Fee], summary="Synced fees (financial events)")
async def fees(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    fee_type: Annotated[str | None, Query(alias="feeType", max_length=128)] = None,
    sku: Annotated[str | None, Query(max_length=255)] = None,
    from_: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    to: Annotated[IsoDatetime | None, Query()] = None,
) -> Page[Fee]:
    return await service.fees_page(
        session,
        user,
        page,
        fee_type=fee_type,
        sku=sku,
        posted_from=aware(from_, "from"),
        posted_to=aware(to, "to"),
    )
