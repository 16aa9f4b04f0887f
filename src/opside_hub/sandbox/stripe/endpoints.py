"""Routes of the sandbox Stripe Connect OAuth (connect.stripe.com) under `/sandbox/stripe`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.exceptions import NO_STORE
from opside_hub.sandbox.oauth import (
    basic_credentials,
    bearer_token,
    check_same_origin,
    decision,
    read_form_pairs,
    read_params,
)
from opside_hub.sandbox.oauth_store import OAuthStore
from opside_hub.sandbox.pages import AccountField, consent_page
from opside_hub.sandbox.routing import SandboxRoute
from opside_hub.sandbox.stripe import service

router = APIRouter(prefix="/stripe", route_class=SandboxRoute)
RESERVED_FIELDS = ("decision", service.ACCOUNT_FIELD)
SCOPE_LABELS = {
    "read_write": "Create and manage payments, customers and payouts on your account",
    "read_only": "View your account's payments, balances and payouts",
}


def store_for(runtime: RuntimeDep) -> OAuthStore:
    return OAuthStore(runtime.redis, runtime.redis_server.key, service.PROVIDER)


def _page(
    request: Request,
    auth: service.AuthorizeRequest,
    hidden: list[tuple[str, str]],
    email: str,
    error: str | None = None,
) -> Response:
    return consent_page(
        provider=service.PROVIDER,
        heading="Connect your Stripe account to Opside",
        intro="Opside (the platform) asks to connect to your Stripe account.",
        permissions=[SCOPE_LABELS[auth.scope]],
        action=request.url.path,
        hidden=[(k, v) for k, v in hidden if k not in RESERVED_FIELDS],
        account=AccountField(
            name=service.ACCOUNT_FIELD,
            label="Account email",
            value=email,
            hint="The same email always connects the same sandbox account (acct_...).",
            input_type="email",
            autocomplete="email",
        ),
        redirect_uri=auth.redirect_uri,
        error=error,
    )


@router.get("/oauth/authorize")
async def authorize(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    auth = service.parse_authorize(runtime.settings, dict(params))
    return _page(request, auth, params.multi_items(), auth.email or service.DEFAULT_EMAIL)


@router.post("/oauth/authorize")
async def decide(request: Request, runtime: RuntimeDep) -> Response:
    check_same_origin(request, runtime.settings, service.PROVIDER)
    pairs = await read_form_pairs(request)
    fields = dict(pairs)
    auth = service.parse_authorize(runtime.settings, fields)
    if decision(service.PROVIDER, fields) == "deny":
        return RedirectResponse(service.deny(auth), status_code=302)
    email = service.normalize_email(fields.get(service.ACCOUNT_FIELD, ""))
    if not service.valid_email(email):
        return _page(request, auth, pairs, email, "Enter an email address, like name@example.com.")
    location = await service.approve(store_for(runtime), auth, email)
    return RedirectResponse(location, status_code=302)


@router.post("/oauth/token")
async def token(request: Request, runtime: RuntimeDep) -> Response:
    params = await read_params(request)
    client = service.authenticate_platform(
        runtime.settings, params, bearer_token(request), basic_credentials(request)
    )
    body = await service.token(store_for(runtime), client, params)
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/deauthorize")
async def deauthorize(request: Request, runtime: RuntimeDep) -> Response:
    params = await read_params(request)
    client = service.authenticate_platform(
        runtime.settings, params, bearer_token(request), basic_credentials(request)
    )
    return JSONResponse(await service.deauthorize(store_for(runtime), client, params))
