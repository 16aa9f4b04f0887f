"""Seller Central website authorization and Login with Amazon (LWA) tokens.

Consent: `{consent}?application_id=&state=&redirect_uri=[&version=beta]` → the seller approves →
our callback gets `state`, `selling_partner_id`, `spapi_oauth_code`. The code (valid 5 minutes)
is exchanged at the LWA token endpoint; LWA access tokens live an hour and refreshing them does
not rotate the refresh token.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx2
from pydantic import SecretStr

from opside_hub.config import Settings
from opside_hub.providers.oauth2 import TokenGrant, request_token

PROVIDER = "amazon"
SANDBOX_APPLICATION_ID = "amzn1.sp.solution.opside-sandbox"


def application_id(settings: Settings) -> str:
    if settings.amazon.app_id:
        return settings.amazon.app_id
    return SANDBOX_APPLICATION_ID if settings.sandbox else ""


def authorization_url(settings: Settings, state: str) -> str:
    params = {
        "application_id": application_id(settings),
        "state": state,
        "redirect_uri": settings.redirect_uri(PROVIDER),
    }
    if settings.amazon.draft_app:
        params["version"] = "beta"  # only for apps still in draft
    return f"{settings.endpoints().amazon_consent_url}?{urlencode(params)}"


async def exchange_code(http: httpx2.AsyncClient, settings: Settings, code: str) -> TokenGrant:
    client_id, client_secret = settings.client_credentials(PROVIDER)
    return await request_token(
        http,
        settings.endpoints().amazon_lwa_token_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri(PROVIDER),
            "client_id": client_id,
            "client_secret": client_secret,
        },
        provider=PROVIDER,
    )


async def refresh(
    http: httpx2.AsyncClient, settings: Settings, refresh_token: SecretStr
) -> TokenGrant:
    client_id, client_secret = settings.client_credentials(PROVIDER)
    return await request_token(
        http,
        settings.endpoints().amazon_lwa_token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
            "client_id": client_id,
            "client_secret": client_secret,
        },
        provider=PROVIDER,
    )
