"""Stripe Connect OAuth: authorize at connect.stripe.com, tokens with the platform secret key.

The platform's secret key authenticates `/oauth/token` and `/oauth/deauthorize` (HTTP Basic,
key as the username). Connect access tokens do not expire on a clock, but a refresh may return a
new refresh token, which then replaces the old one.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx2
from pydantic import SecretStr

from opside_hub.config import Settings
from opside_hub.providers.oauth2 import (
    OAuthError,
    TokenGrant,
    oauth_error_code,
    post_with_retries,
    request_token,
)

PROVIDER = "stripe"


def authorization_url(settings: Settings, state: str, email: str | None = None) -> str:
    client_id, _ = settings.client_credentials(PROVIDER)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "scope": "read_write",
        "state": state,
        "redirect_uri": settings.redirect_uri(PROVIDER),
    }
    if email:
        params["stripe_user[email]"] = email
    return f"{settings.endpoints().stripe_connect_base_url}/oauth/authorize?{urlencode(params)}"


def _platform_auth(settings: Settings) -> httpx2.BasicAuth:
    _, secret_key = settings.client_credentials(PROVIDER)
    return httpx2.BasicAuth(secret_key, "")


async def exchange_code(http: httpx2.AsyncClient, settings: Settings, code: str) -> TokenGrant:
    return await request_token(
        http,
        f"{settings.endpoints().stripe_connect_base_url}/oauth/token",
        {"grant_type": "authorization_code", "code": code},
        provider=PROVIDER,
        auth=_platform_auth(settings),
    )


async def refresh(
    http: httpx2.AsyncClient, settings: Settings, refresh_token: SecretStr
) -> TokenGrant:
    return await request_token(
        http,
        f"{settings.endpoints().stripe_connect_base_url}/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()},
        provider=PROVIDER,
        auth=_platform_auth(settings),
    )


async def deauthorize(http: httpx2.AsyncClient, settings: Settings, stripe_user_id: str) -> None:
    """Disconnect the account from the platform; an already-disconnected one counts as done."""
    client_id, _ = settings.client_credentials(PROVIDER)
    response = await post_with_retries(
        http,
        f"{settings.endpoints().stripe_connect_base_url}/oauth/deauthorize",
        {"client_id": client_id, "stripe_user_id": stripe_user_id},
        provider=PROVIDER,
        auth=_platform_auth(settings),
    )
    if response.is_error:
        error = oauth_error_code(response)
        if response.status_code in (400, 401) and error in ("invalid_client", "invalid_grant"):
            return  # not (or no longer) connected to this platform
        raise OAuthError(
            PROVIDER,
            error or "deauthorize_failed",
            f"HTTP {response.status_code}",
            response.status_code,
        )
