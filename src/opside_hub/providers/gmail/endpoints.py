from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opside_hub.api.deps import CurrentUser, RuntimeDep, SessionDep
from opside_hub.core.exceptions import AppError
from opside_hub.core.schemas import Envelope
from opside_hub.integrations.callbacks import callback_failure, callback_success
from opside_hub.integrations.schemas import AuthStart, Connected, Disconnected
from opside_hub.providers.gmail import service
from opside_hub.providers.gmail.schemas import GmailConnect

router = APIRouter(prefix="/gmail", tags=["gmail"])
public_router = APIRouter(prefix="/gmail", tags=["gmail"])


@router.get("/auth", response_model=Envelope[AuthStart], summary="Start Google consent (PKCE)")
async def auth(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Envelope[AuthStart]:
    return Envelope(data=await service.start_connect(session, runtime, user))


@public_router.get(
    "/callback",
    summary="Google redirect: store the tokens, then redirect to FRONTEND_URL",
    responses={
        200: {"description": "JSON when Accept: application/json"},
        302: {"description": "Redirect to the frontend"},
    },
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
    try:
        connected = await service.complete_callback(
            session, runtime, state=state, code=code, error=error
        )
    except AppError as exc:
        return callback_failure(request, runtime.settings, service.PROVIDER, exc)
    return callback_success(request, runtime.settings, connected)


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
    summary="Revoke at Google and forget the tokens",
)
async def disconnect(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Envelope[Disconnected]:
    removed = await service.disconnect(session, runtime, user)
    return Envelope(data=Disconnected(provider=service.PROVIDER, disconnected=removed))
