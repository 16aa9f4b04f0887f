"""Routes of the sandbox Google, at Google's own paths under `/sandbox/google`.

`accounts.google.com/o/oauth2/v2/auth`, `oauth2.googleapis.com/token` and `/revoke`, and
`gmail.googleapis.com/gmail/v1/...` share the prefix: a client changes only base URLs. The Gmail
API itself is `gmail.py`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.exceptions import NO_STORE
from opside_hub.sandbox.google import service
from opside_hub.sandbox.oauth import (
    basic_credentials,
    check_same_origin,
    decision,
    read_form_pairs,
    read_params,
    redirect_url,
)
from opside_hub.sandbox.oauth_store import OAuthStore
from opside_hub.sandbox.pages import AccountField, consent_page, result_page
from opside_hub.sandbox.routing import SandboxRoute

router = APIRouter(prefix="/google", route_class=SandboxRoute)
RESERVED_FIELDS = ("decision", service.ACCOUNT_FIELD)

SCOPE_LABELS = {
    "https://www.googleapis.com/auth/gmail.readonly": "View your email messages and settings",
    "https://mail.google.com/": "Read, compose, send and permanently delete all your email",
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made public",
}


def store_for(runtime: RuntimeDep) -> OAuthStore:
    return OAuthStore(runtime.redis, runtime.redis_server.key, service.PROVIDER)


def _page(
    request: Request,
    auth: service.AuthRequest,
    hidden: list[tuple[str, str]],
    email: str,
    error: str | None = None,
) -> Response:
    return consent_page(
        provider=service.PROVIDER,
        heading="Opside wants access to your Google Account",
        intro="Choose the sandbox Google account to connect, then allow or deny access.",
        permissions=[SCOPE_LABELS.get(scope, scope) for scope in auth.scopes],
        action=request.url.path,
        hidden=[(k, v) for k, v in hidden if k not in RESERVED_FIELDS],
        account=AccountField(
            name=service.ACCOUNT_FIELD,
            label="Email address",
            value=email,
            hint="Any address: each one is its own sandbox mailbox.",
            input_type="email",
            autocomplete="email",
        ),
        redirect_uri=auth.redirect_uri,
        error=error,
    )


@router.get("/o/oauth2/v2/auth")
async def authorize(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    auth = service.parse_auth_request(runtime.settings, dict(params))
    return _page(request, auth, params.multi_items(), auth.login_hint or service.DEFAULT_EMAIL)


@router.post("/o/oauth2/v2/auth")
async def decide(request: Request, runtime: RuntimeDep) -> Response:
    check_same_origin(request, runtime.settings, service.PROVIDER)
    pairs = await read_form_pairs(request)
    fields = dict(pairs)
    auth = service.parse_auth_request(runtime.settings, fields)
    if decision(service.PROVIDER, fields) == "deny":
        return _answer(auth, service.deny(auth))
    email = service.normalize_email(fields.get(service.ACCOUNT_FIELD, ""))
    if not service.valid_email(email):
        return _page(request, auth, pairs, email, "Enter an email address, like name@example.com.")
    return _answer(auth, await service.approve(store_for(runtime), auth, email))


def _answer(auth: service.AuthRequest, params: list[tuple[str, str]]) -> Response:
    """The authorization response: a redirect, or for a popup (`postmessage`) a page that shows
    it. (Google's popup hands it to the opener with window.postMessage; the sandbox page has no
    script, so a person or a test reads it off the page.)"""
    if auth.redirect_uri == service.POSTMESSAGE:
        return result_page(service.PROVIDER, "Authorization response", params)
    return RedirectResponse(redirect_url(auth.redirect_uri, params), status_code=302)


@router.post("/token")
async def token(request: Request, runtime: RuntimeDep) -> Response:
    params = await read_params(request)
    body = await service.token(
        store_for(runtime), runtime.settings, params, basic_credentials(request)
    )
    return JSONResponse(body, headers=NO_STORE)


@router.api_route("/revoke", methods=["GET", "POST"])
async def revoke(request: Request, runtime: RuntimeDep) -> Response:
    params = await read_params(request, include_query=True)
    await service.revoke(store_for(runtime), params)
    return JSONResponse({})
