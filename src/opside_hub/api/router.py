"""The router tree. Every domain router is mounted under `/api` and `/api/v1` (DESIGN §3).

Routers are authenticated unless they say otherwise: `private` routers get `CurrentUser` as a
router-level dependency; `public` ones (OAuth callbacks, webhooks) declare why they are public.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from opside_hub.api.deps import get_current_user
from opside_hub.api.errors_doc import ERROR_RESPONSES, PUBLIC_ERROR_RESPONSES
from opside_hub.api.input_guards import reject_nul_characters
from opside_hub.auth.endpoints import router as auth_router
from opside_hub.integrations.endpoints import router as integrations_router
from opside_hub.ledger.endpoints import router as ledger_router
from opside_hub.providers.amazon import endpoints as amazon
from opside_hub.providers.gmail import endpoints as gmail
from opside_hub.providers.stripe import endpoints as stripe
from opside_hub.sync.endpoints import router as sync_router
from opside_hub.system.endpoints import private_router as system_router

API_PREFIXES = ("/api", "/api/v1")

private = APIRouter(
    dependencies=[Depends(get_current_user), Depends(reject_nul_characters)],
    responses=ERROR_RESPONSES,
)
private.include_router(auth_router)
private.include_router(system_router)
private.include_router(integrations_router)
private.include_router(ledger_router)
private.include_router(sync_router)
for provider in (amazon, gmail, stripe):
    private.include_router(provider.router)

public = APIRouter(dependencies=[Depends(reject_nul_characters)], responses=PUBLIC_ERROR_RESPONSES)
for provider in (amazon, gmail, stripe):
    # OAuth callbacks (the state is the credential); Stripe's webhook (its Stripe-Signature).
    public.include_router(provider.public_router)

api_router = APIRouter()
api_router.include_router(private)
api_router.include_router(public)
