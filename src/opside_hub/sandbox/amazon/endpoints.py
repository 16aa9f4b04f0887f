"""Routes of the sandbox Amazon, at Amazon's own paths under `/sandbox/amazon`: Seller Central
consent and LWA here, the Selling Partner API from `spapi/endpoints.py`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from opside_hub.api.deps import RuntimeDep
from opside_hub.sandbox.amazon import service
from opside_hub.sandbox.amazon.spapi.endpoints import router as spapi_router
from opside_hub.sandbox.exceptions import NO_STORE
from opside_hub.sandbox.oauth import (
    basic_credentials,
    check_same_origin,
    decision,
    read_form_pairs,
    read_params,
)
from opside_hub.sandbox.oauth_store import OAuthStore
from opside_hub.sandbox.pages import AccountField, consent_page
from opside_hub.sandbox.routing import SandboxRoute

router = APIRouter(prefix="/amazon", route_class=SandboxRoute)
router.include_router(spapi_router)
RESERVED_FIELDS = ("decision", service.ACCOUNT_FIELD)


def _store(runtime: RuntimeDep) -> OAuthStore:
    return OAuthStore(runtime.redis, runtime.redis_server.key, service.PROVIDER)


def _page(
    request: Request,
    consent: service.ConsentRequest,
    hidden: list[tuple[str, str]],
    seller_name: str = service.DEFAULT_SELLER_NAME,
    error: str | None = None,
) -> Response:
    return consent_page(
        provider=service.PROVIDER,
        heading="Authorize Opside to access your selling account",
        intro=(
            "Opside (the application) asks to call the Selling Partner API on your behalf: "
            "reports, inventory and finances of your Amazon selling account."
        ),
        permissions=[
            "Reports: FBA reimbursements, inventory ledger",
            "FBA inventory summaries",
            "Finances: financial events and fees",
        ],
        action=request.url.path,
        hidden=[(k, v) for k, v in hidden if k not in RESERVED_FIELDS],
        account=AccountField(
            name=service.ACCOUNT_FIELD,
            label="Seller name",
            value=seller_name,
            hint="Your sandbox selling account; the same name always gives the same seller id.",
            autocomplete="organization",
        ),
        redirect_uri=consent.redirect_uri,
        error=error,
    )


@router.get("/apps/authorize/consent")
async def consent(request: Request, runtime: RuntimeDep) -> Response:
    params = request.query_params
    consent = service.parse_consent(runtime.settings, dict(params))
    return _page(request, consent, params.multi_items())


@router.post("/apps/authorize/consent")
async def decide(request: Request, runtime: RuntimeDep) -> Response:
    check_same_origin(request, runtime.settings, service.PROVIDER)
    pairs = await read_form_pairs(request)
    fields = dict(pairs)
    consent = service.parse_consent(runtime.settings, fields)
    if decision(service.PROVIDER, fields) == "deny":
        return RedirectResponse(service.deny(consent), status_code=302)
    seller_name = fields.get(service.ACCOUNT_FIELD, "")
    if len(seller_name) > 200:
        return _page(request, consent, pairs, seller_name[:200], "Use at most 200 characters.")
    location = await service.approve(_store(runtime), runtime.settings, consent, seller_name)
    return RedirectResponse(location, status_code=302)


@router.post("/auth/o2/token")
async def lwa_token(request: Request, runtime: RuntimeDep) -> Response:
    params = await read_params(request)
    body = await service.token(
        _store(runtime), runtime.settings, params, basic_credentials(request)
    )
    return JSONResponse(body, headers=NO_STORE)
