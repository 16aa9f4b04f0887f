"""Google's authorization-code flow with PKCE (S256) and offline access.

`access_type=offline` + `prompt=consent` make Google return a refresh token on every consent;
refreshes answer without one (the old one stays valid). Disconnect revokes at Google.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
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

PROVIDER = "gmail"
SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
# The redirect_uri Google's JavaScript popup flow uses for codes it hands to the page.
POPUP_REDIRECT_URI = "postmessage"


def new_code_verifier() -> str:
    """RFC 7636: 43-128 characters from the unreserved set; 32 random bytes give 43."""
    return secrets.token_urlsafe(32)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorization_url(
    settings: Settings, state: str, verifier: str, login_hint: str | None = None
) -> str:
    client_id, _ = settings.client_credentials(PROVIDER)
    params = {
        "client_id": client_id,
        "redirect_uri": settings.redirect_uri(PROVIDER),
        "response_type": "code",
        "scope": SCOPE,
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
    }
    if login_hint:
        params["login_hint"] = login_hint
    return f"{settings.endpoints().google_auth_url}?{urlencode(params)}"


async def exchange_code(
    http: httpx2.AsyncClient,
    settings: Settings,
    code: str,
    *,
    code_verifier: str | None,
    redirect_uri: str | None = None,
) -> TokenGrant:
    client_id, client_secret = settings.client_credentials(PROVIDER)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri or settings.redirect_uri(PROVIDER),
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    return await request_token(http, settings.endpoints().google_token_url, form, provider=PROVIDER)


async def refresh(
    http: httpx2.AsyncClient, settings: Settings, refresh_token: SecretStr
) -> TokenGrant:
    client_id, client_secret = settings.client_credentials(PROVIDER)
    return await request_token(
        http,
        settings.endpoints().google_token_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
            "client_id": client_id,
            "client_secret": client_secret,
        },
        provider=PROVIDER,
    )


async def revoke(http: httpx2.AsyncClient, settings: Settings, token: SecretStr) -> None:
    """Revoke at Google (a refresh token revokes the whole grant). An already-invalid token
    counts as revoked."""
    response = await post_with_retries(
        http,
        settings.endpoints().google_revoke_url,
        {"token": token.get_secret_value()},
        provider=PROVIDER,
    )
    if response.status_code == 400 and oauth_error_code(response) in (
        "invalid_token",
        "invalid_grant",
    ):
        return
    if response.is_error:
        raise OAuthError(
            PROVIDER,
            oauth_error_code(response) or "revoke_failed",
            f"HTTP {response.status_code}",
            response.status_code,
        )
