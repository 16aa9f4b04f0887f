from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response

from opside_hub.api.deps import CurrentUser, RuntimeDep, SessionDep
from opside_hub.api.errors_doc import PROVIDER_FAILED, error_response
from opside_hub.core.pagination import PageDep
from opside_hub.core.schemas import Envelope, Page
from opside_hub.core.timeparams import IsoDatetime, aware
from opside_hub.integrations.callbacks import CALLBACK_RESPONSES, answer_callback
from opside_hub.integrations.schemas import AuthStart, Connected, Disconnected
from opside_hub.providers.stripe import service, webhooks
from opside_hub.providers.stripe.repository import TransactionFilters
from opside_hub.providers.stripe.schemas import (
    BalanceTransaction,
    ConnectedAccount,
    OnboardingStatus,
    StripeConnect,
    WebhookReceipt,
)

router = APIRouter(prefix="/stripe", tags=["stripe"])
public_router = APIRouter(prefix="/stripe", tags=["stripe"])


@router.get("/auth", response_model=Envelope[AuthStart], summary="Start Stripe Connect OAuth")
async def auth(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Envelope[AuthStart]:
    return Envelope(data=await service.start_connect(session, runtime, user))


@public_router.get(
    "/callback",
    summary="Stripe redirect: store the tokens, then redirect to FRONTEND_URL",
    responses=CALLBACK_RESPONSES,
    response_class=Response,
)
async def callback(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    return await answer_callback(
        request,
        runtime.settings,
        service.PROVIDER,
        service.complete_callback(session, runtime, state=state, code=code, error=error),
    )


@router.post(
    "/connect", response_model=Envelope[Connected], summary="Exchange a code the frontend obtained"
)
async def connect(
    body: StripeConnect, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[Connected]:
    connected = await service.connect_with_code(
        session, runtime, user, code=body.code, state=body.state
    )
    return Envelope(data=connected)


@router.delete(
    "/disconnect",
    response_model=Envelope[Disconnected],
    responses={502: error_response("Stripe could not deauthorize (`disconnect_failed`)")},
    summary="Deauthorize at Stripe and forget the tokens",
)
async def disconnect(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[Disconnected]:
    removed = await service.disconnect(session, runtime, user)
    return Envelope(data=Disconnected(provider=service.PROVIDER, disconnected=removed))


@router.get(
    "/transactions",
    response_model=Page[BalanceTransaction],
    summary="Synced Stripe balance transactions, newest first",
)
async def transactions(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    type_: Annotated[
        str | None, Query(alias="type", max_length=64, description="charge, refund, payout...")
    ] = None,
    currency: Annotated[
        str | None, Query(min_length=3, max_length=3, description="ISO 4217, any case")
    ] = None,
    from_: Annotated[
        IsoDatetime | None, Query(alias="from", description="created ≥ (ISO 8601)")
    ] = None,
    to: Annotated[IsoDatetime | None, Query(description="created < (ISO 8601)")] = None,
) -> Page[BalanceTransaction]:
    filters = TransactionFilters(
        type=type_,
        currency=currency.upper() if currency else None,
        created_from=aware(from_, "from"),
        created_to=aware(to, "to"),
    )
    return await service.transactions_page(session, user, filters, page)


@router.get(
    "/transactions/{transaction_id}",
    response_model=Envelope[BalanceTransaction],
    summary="One synced balance transaction, by Stripe's id (txn_...)",
)
async def transaction(
    user: CurrentUser,
    session: SessionDep,
    transaction_id: Annotated[str, Path(max_length=255)],
) -> Envelope[BalanceTransaction]:
    return Envelope(data=await service.get_transaction(session, user, transaction_id))


@router.get(
    "/account",
    response_model=Envelope[ConnectedAccount],
    responses={
        404: error_response("No Stripe account, or Stripe refused access to it"),
        502: PROVIDER_FAILED,
        503: error_response("The Stripe platform key is not configured"),
    },
    summary="The seller's Stripe account, as Stripe describes it now",
)
async def account(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[ConnectedAccount]:
    return Envelope(data=await service.connected_account(session, runtime, user))


@router.get(
    "/status",
    response_model=OnboardingStatus,
    summary="Silent onboarding: whether Opside opened the seller's Stripe Express account",
)
async def status(user: CurrentUser, session: SessionDep) -> OnboardingStatus:
    return await service.onboarding_status(session, user)


# Public: Stripe calls it; the Stripe-Signature (checked before anything else) is the credential.
@public_router.post(
    "/webhook",
    response_model=Envelope[WebhookReceipt],
    responses={
        400: error_response("Bad Stripe-Signature or event (`invalid_signature`, `invalid_event`)"),
        503: error_response("No STRIPE_WEBHOOK_SECRET is configured"),
    },
    summary="Stripe events (Stripe-Signature verified; each event stored and applied once)",
)
async def webhook(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    stripe_signature: Annotated[str | None, Header(max_length=4096)] = None,
) -> Envelope[WebhookReceipt]:
    payload = await request.body()
    receipt = await webhooks.receive(session, runtime.settings, payload, stripe_signature)
    return Envelope(data=receipt)
