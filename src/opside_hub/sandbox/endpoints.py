"""The sandbox router: the three providers under `/sandbox`, plus test controls.

`/sandbox/_admin/{provider}/revoke` and `/expire` let a tester act as the provider would on its
own: a seller revoking the app, a token reaching its end of life. They take JSON
`{"token": "..."}` (a refresh or access token) or `{"subject": "..."}` (a selling_partner_id,
Google address or Stripe account id) and answer `{"revoked": n}` / `{"expired": n}`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.amazon.endpoints import router as amazon_router
from opside_hub.sandbox.exceptions import OAuthError
from opside_hub.sandbox.google.endpoints import router as google_router
from opside_hub.sandbox.google.gmail import admin_router as gmail_admin_router
from opside_hub.sandbox.google.gmail import router as gmail_router
from opside_hub.sandbox.oauth import read_params
from opside_hub.sandbox.oauth_store import OAuthStore
from opside_hub.sandbox.routing import SandboxRoute
from opside_hub.sandbox.stripe.admin import router as stripe_admin_router
from opside_hub.sandbox.stripe.api import router as stripe_api_router
from opside_hub.sandbox.stripe.endpoints import router as stripe_router

Provider = Literal["amazon", "google", "stripe"]

admin_router = APIRouter(prefix="/_admin", route_class=SandboxRoute)


async def _target(request: Request) -> dict[str, str]:
    params = await read_params(request)
    target = {name: params[name] for name in ("token", "subject") if params.get(name)}
    if len(target) != 1:
        raise OAuthError("invalid_request", 'Send exactly one of "token" or "subject".')
    return target


def _store(runtime: RuntimeDep, provider: Provider) -> OAuthStore:
    return OAuthStore(runtime.redis, runtime.redis_server.key, provider)


@admin_router.post("/{provider}/revoke")
async def admin_revoke(provider: Provider, request: Request, runtime: RuntimeDep) -> Response:
    """Revoke the grant of a token, or every grant of a subject."""
    target = await _target(request)
    store = _store(runtime, provider)
    if "token" in target:
        revoked = int(await store.revoke_token(target["token"]) is not None)
    else:
        revoked = await store.revoke_subject(target["subject"])
    return JSONResponse({"revoked": revoked})


@admin_router.post("/{provider}/expire")
async def admin_expire(provider: Provider, request: Request, runtime: RuntimeDep) -> Response:
    """Expire an access token, or every access token of a subject, now."""
    target = await _target(request)
    expired = await _store(runtime, provider).expire_access_tokens(
        token=target.get("token"), subject=target.get("subject")
    )
    return JSONResponse({"expired": expired})


def build_sandbox_router() -> APIRouter:
    """Mounted by the app in sandbox mode only; out of the OpenAPI schema (it is not our API)."""
    router = APIRouter(prefix="/sandbox", include_in_schema=False)
    for child in (
        amazon_router,
        google_router,
        gmail_router,
        stripe_router,
        stripe_api_router,
        admin_router,
        gmail_admin_router,
        stripe_admin_router,
    ):
        router.include_router(child)
    return router
