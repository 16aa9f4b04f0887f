from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from opside_hub.api.deps import CurrentUser, RuntimeDep, SessionDep
from opside_hub.api.errors_doc import NEEDS_REAUTHORIZATION, PROVIDER_FAILED, error_response
from opside_hub.core.pagination import PageDep
from opside_hub.core.schemas import Envelope, Page
from opside_hub.core.timeparams import IsoDatetime, aware
from opside_hub.integrations.callbacks import CALLBACK_RESPONSES, answer_callback
from opside_hub.integrations.schemas import AuthStart, Connected, Disconnected
from opside_hub.providers.gmail import service
from opside_hub.providers.gmail.repository import EmailFilters
from opside_hub.providers.gmail.schemas import GmailConnect, GmailEmail, GmailMessageSummary

router = APIRouter(prefix="/gmail", tags=["gmail"])
public_router = APIRouter(prefix="/gmail", tags=["gmail"])
MAX_QUERY_LENGTH = 1000
SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT = 25, 100


@router.get("/auth", response_model=Envelope[AuthStart], summary="Start Google consent (PKCE)")
async def auth(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Envelope[AuthStart]:
    return Envelope(data=await service.start_connect(session, runtime, user))


@public_router.get(
    "/callback",
    summary="Google redirect: store the tokens, then redirect to FRONTEND_URL",
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
    "/connect",
    response_model=Envelope[Connected],
    summary="Exchange a code the frontend obtained (popup flow)",
)
async def connect(
    body: GmailConnect, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[Connected]:
    connected = await service.connect_with_code(
        session,
        runtime,
        user,
        code=body.code,
        state=body.state,
        code_verifier=body.code_verifier,
        redirect_uri=body.redirect_uri,
    )
    return Envelope(data=connected)


@router.delete(
    "/disconnect",
    response_model=Envelope[Disconnected],
    responses={502: error_response("Google could not revoke the grant (`disconnect_failed`)")},
    summary="Revoke at Google and forget the tokens",
)
async def disconnect(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[Disconnected]:
    removed = await service.disconnect(session, runtime, user)
    return Envelope(data=Disconnected(provider=service.PROVIDER, disconnected=removed))


@router.get(
    "/emails",
    response_model=Page[GmailEmail],
    summary="Synced Gmail messages (invoice mail), newest first",
)
async def emails(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            min_length=1,
            max_length=320,
            description="A part of the From header (name or address), case-insensitive",
        ),
    ] = None,
    has_attachments: Annotated[bool | None, Query(alias="hasAttachments")] = None,
    after: Annotated[
        IsoDatetime | None, Query(description="internalDate ≥ (ISO 8601 with an offset)")
    ] = None,
    before: Annotated[
        IsoDatetime | None, Query(description="internalDate < (ISO 8601 with an offset)")
    ] = None,
) -> Page[GmailEmail]:
    filters = EmailFilters(
        sender=from_,
        has_attachments=has_attachments,
        after=aware(after, "after"),
        before=aware(before, "before"),
    )
    return await service.emails_page(session, user, filters, page)


@router.get(
    "/search",
    response_model=Page[GmailMessageSummary],
    summary="Live Gmail search with Gmail's `q` syntax (through the seller's token)",
    responses={
        400: error_response("Gmail refused the query (`gmail_bad_request`)"),
        404: error_response("Gmail is not connected (`not_connected`)"),
        409: NEEDS_REAUTHORIZATION,
        502: PROVIDER_FAILED,
        503: error_response("Gmail is unavailable or rate limiting (`gmail_unavailable`)"),
    },
)
async def search(
    user: CurrentUser,
    runtime: RuntimeDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_LENGTH,
            description='Gmail search, e.g. `from:acme has:attachment "purchase order"`',
        ),
    ],
    limit: Annotated[
        int, Query(ge=1, le=SEARCH_MAX_LIMIT, description="Messages per page (each is fetched)")
    ] = SEARCH_DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`meta.nextCursor` of the previous page")
    ] = None,
    page_token: Annotated[
        str | None, Query(alias="pageToken", max_length=512, description="Same as `cursor`")
    ] = None,
) -> Page[GmailMessageSummary]:
    return await service.search(runtime, user, q=q, page_token=cursor or page_token, limit=limit)
