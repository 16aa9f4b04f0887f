"""Seller Central's website authorization workflow and Login with Amazon's token endpoint.

Shapes follow Amazon's SP-API developer guide ("Website authorization workflow") and the LWA
"Authorization Code Grant" reference:

- consent `GET /apps/authorize/consent?application_id=&state=[&version=beta][&redirect_uri=]`;
  `redirect_uri` is optional and defaults to the app's registered one. Known errors are pages,
  not redirects: MD1000 (a draft app without `version=beta`), MD5101 (redirect URI not
  registered), MD5110 (redirect URI with a fragment).
- on confirmation Amazon loads the redirect URI with `state`, `selling_partner_id` and
  `spapi_oauth_code`; the code expires after five minutes.
- `POST /auth/o2/token` (form, or JSON as Amazon's own SDKs send), `grant_type`
  `authorization_code` (`code`, `redirect_uri`) or `refresh_token`, with `client_id` and
  `client_secret` (or HTTP Basic). Answers `access_token` ("Atza|..."), `refresh_token`
  ("Atzr|..."), `token_type` "bearer", `expires_in`; a refresh returns the same refresh token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opside_hub.config import Settings
from opside_hub.sandbox.exceptions import ConsentError, OAuthError
from opside_hub.sandbox.oauth import (
    ALNUM_UPPER,
    RegisteredClient,
    derived_string,
    random_string,
    random_urlsafe,
    redirect_url,
    registered_client,
)
from opside_hub.sandbox.oauth_store import Authorization, CodeStatus, OAuthStore, utc_now

PROVIDER = "amazon"
SETTINGS_PROVIDER = "amazon"
# The application id the hub sends when AMAZON_APP_ID is unset in sandbox mode.
SANDBOX_APPLICATION_ID = "amzn1.sp.solution.opside-sandbox"
CODE_LIFETIME = timedelta(minutes=5)
DEFAULT_SELLER_NAME = "Sandbox Seller"
ACCOUNT_FIELD = "seller_name"


def application_id(settings: Settings) -> str:
    return settings.amazon.app_id or SANDBOX_APPLICATION_ID


def selling_partner_id(seller_name: str) -> str:
    """A stable seller id in Amazon's format ("A" + 13 upper-case letters and digits)."""
    return "A" + derived_string(f"amazon-seller:{_normalize(seller_name)}", 13, ALNUM_UPPER)


def _normalize(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class ConsentRequest:
    application_id: str
    redirect_uri: str
    state: str
    draft: bool


def parse_consent(settings: Settings, params: Mapping[str, str]) -> ConsentRequest:
    app_id = params.get("application_id", "")
    if not app_id:
        raise ConsentError(PROVIDER, "invalid_request", "The application_id parameter is missing.")
    if app_id != application_id(settings):
        raise ConsentError(
            PROVIDER,
            "invalid_application",
            f"No application with the id {app_id!r} is registered.",
            status_code=404,
        )
    beta = params.get("version") == "beta"
    if settings.amazon.draft_app and not beta:
        raise ConsentError(
            PROVIDER,
            "MD1000",
            "This application is in draft state: add version=beta to the authorization URI.",
        )
    registered = settings.redirect_uri(SETTINGS_PROVIDER)
    redirect_uri = params.get("redirect_uri") or registered
    if "#" in redirect_uri:
        raise ConsentError(PROVIDER, "MD5110", "The redirect URI must not contain a fragment.")
    if redirect_uri != registered:
        raise ConsentError(
            PROVIDER,
            "MD5101",
            "The redirect URI does not match an OAuth Redirect URI registered for the application.",
        )
    return ConsentRequest(app_id, redirect_uri, params.get("state", ""), draft=beta)


async def approve(
    store: OAuthStore, settings: Settings, consent: ConsentRequest, seller_name: str
) -> str:
    """The seller confirmed: issue a code and return where the browser goes next."""
    name = " ".join(seller_name.split()) or DEFAULT_SELLER_NAME
    partner_id = selling_partner_id(name)
    code = random_string(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    now = utc_now()
    await store.save_code(
        code,
        Authorization(
            client_id=registered_client(settings, SETTINGS_PROVIDER).client_id,
            redirect_uri=consent.redirect_uri,
            subject=partner_id,
            scopes=(),
            issued_at=now,
            expires_at=now + CODE_LIFETIME,
            attributes={"seller_name": name, "application_id": consent.application_id},
        ),
    )
    return redirect_url(
        consent.redirect_uri,
        [("state", consent.state), ("selling_partner_id", partner_id), ("spapi_oauth_code", code)],
    )


def deny(consent: ConsentRequest) -> str:
    # Amazon documents only that Cancel "exits without authorizing"; it does not say whether
    # the browser comes back. The sandbox returns it with the RFC 6749 error, so a client can
    # show the seller something better than a dead end.
    return redirect_url(
        consent.redirect_uri, [("error", "access_denied"), ("state", consent.state)]
    )


# -- LWA token endpoint ---------------------------------------------------------------------


def _missing(name: str) -> OAuthError:
    return OAuthError("invalid_request", f"The request is missing a required parameter : {name}")


def _invalid_grant(name: str) -> OAuthError:
    return OAuthError("invalid_grant", f"The request has an invalid grant parameter : {name}")


def authenticate_client(
    settings: Settings, params: Mapping[str, str], basic: tuple[str, str] | None
) -> RegisteredClient:
    client = registered_client(settings, SETTINGS_PROVIDER)
    client_id, secret = basic or (params.get("client_id", ""), params.get("client_secret"))
    if not client_id:
        raise _missing("client_id")
    if client_id != client.client_id or not client.secret_matches(secret):
        raise OAuthError("invalid_client", "Client authentication failed", status_code=401)
    return client


async def token(
    store: OAuthStore,
    settings: Settings,
    params: Mapping[str, str],
    basic: tuple[str, str] | None,
) -> dict[str, Any]:
    grant_type = params.get("grant_type", "")
    if not grant_type:
        raise _missing("grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        )
    client = authenticate_client(settings, params, basic)
    ttl = timedelta(seconds=settings.sandbox_token_ttl_seconds)
    access_token = "Atza|" + random_urlsafe(360)
    if grant_type == "authorization_code":
        code = params.get("code", "")
        if not code:
            raise _missing("code")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            raise _missing("redirect_uri")
        redemption = await store.redeem_code(code)
        authorization = redemption.authorization
        if (
            redemption.status is not CodeStatus.valid
            or authorization is None
            or authorization.client_id != client.client_id
        ):
            raise _invalid_grant("code")
        if redirect_uri != authorization.redirect_uri:
            raise _invalid_grant("redirect_uri")
        refresh_token = "Atzr|" + random_urlsafe(360)
        await store.create_grant(
            authorization,
            access_token=access_token,
            access_ttl=ttl,
            refresh_token=refresh_token,
            code=code,
        )
    else:
        refresh_token = params.get("refresh_token", "")
        if not refresh_token:
            raise _missing("refresh_token")
        grant = await store.grant_for_refresh_token(refresh_token)
        if grant is None or grant.client_id != client.client_id:
            raise _invalid_grant("refresh_token")
        await store.add_access_token(grant, access_token, ttl)
    return {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": settings.sandbox_token_ttl_seconds,
    }
