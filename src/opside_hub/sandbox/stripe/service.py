"""Stripe Connect OAuth (Standard accounts), as in Stripe's "Connect OAuth reference".

- `GET /oauth/authorize` with `response_type=code`, `client_id`, `scope` (`read_write` or
  `read_only`, default `read_only`), `state`, `redirect_uri` (optional: the platform's
  registered URI by default) and prefill fields such as `stripe_user[email]`. An unknown client
  is an error page; other errors come back on the registered redirect URI as `error` +
  `error_description` (`invalid_redirect_uri`, `invalid_scope`, `unsupported_response_type`,
  and `access_denied` when the user declines).
- approval redirects with `code` ("ac_..."), `scope` and `state`.
- `POST /oauth/token` authenticated with the platform's secret key (HTTP Bearer, HTTP Basic
  username, or the `client_secret` parameter), `grant_type` `authorization_code` or
  `refresh_token`. Answers `access_token` ("sk_test_..."), `livemode`, `refresh_token`
  ("rt_..."), `scope`, `stripe_publishable_key`, `stripe_user_id` ("acct_...") and
  `token_type` "bearer". Access tokens do not expire on a clock; a refresh rotates the refresh
  token. A replayed code revokes what it issued, with Stripe's message.
- `POST /oauth/deauthorize` with `client_id` and `stripe_user_id` → `{"stripe_user_id": ...}`;
  every token of that account dies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opside_hub.config import Settings
from opside_hub.sandbox.exceptions import ConsentError, OAuthError, RedirectError
from opside_hub.sandbox.oauth import (
    BASE62,
    RegisteredClient,
    derived_string,
    random_string,
    redirect_url,
    registered_client,
)
from opside_hub.sandbox.oauth_store import Authorization, CodeStatus, Grant, OAuthStore, utc_now

PROVIDER = "stripe"
SETTINGS_PROVIDER = "stripe"
# Stripe does not document the lifetime of `ac_` codes; RFC 6749 §4.1.2 recommends 10 minutes.
CODE_LIFETIME = timedelta(minutes=10)
SCOPES = ("read_write", "read_only")
DEFAULT_EMAIL = "seller@example.com"
ACCOUNT_FIELD = "email"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(_EMAIL.match(email))


def stripe_user_id(email: str) -> str:
    """The sandbox account of an email address: `acct_` + 16 characters, as Stripe's are."""
    return "acct_1" + derived_string(f"stripe-account:{normalize_email(email)}", 15, BASE62)


def publishable_key(account_id: str) -> str:
    return "pk_test_" + derived_string(f"stripe-publishable:{account_id}", 99, BASE62)


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    email: str


def parse_authorize(settings: Settings, params: Mapping[str, str]) -> AuthorizeRequest:
    client = registered_client(settings, SETTINGS_PROVIDER)
    client_id = params.get("client_id", "")
    if not client_id:
        raise ConsentError(PROVIDER, "invalid_request", "No client_id provided.")
    if client_id != client.client_id:
        raise ConsentError(
            PROVIDER, "invalid_client", f"No application matches client_id {client_id!r}.", 401
        )
    state = params.get("state", "")
    registered = client.redirect_uri

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(
            redirect_url(
                registered,
                [("error", error), ("error_description", description), ("state", state)],
            )
        )

    redirect_uri = params.get("redirect_uri") or registered
    if redirect_uri != registered:
        raise refuse(
            "invalid_redirect_uri",
            f"Invalid redirect_uri {redirect_uri!r}: it must exactly match a redirect URI in "
            "your platform settings.",
        )
    response_type = params.get("response_type", "")
    if response_type != "code":
        raise refuse("unsupported_response_type", "Only 'code' response_type is supported.")
    scope = params.get("scope") or "read_only"
    if scope not in SCOPES:
        raise refuse("invalid_scope", f"Invalid scope {scope!r}: use read_write or read_only.")
    return AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        email=params.get("stripe_user[email]", ""),
    )


async def approve(store: OAuthStore, request: AuthorizeRequest, email: str) -> str:
    email = normalize_email(email)
    account_id = stripe_user_id(email)
    # Approval connects the account to the platform, until it is deauthorized; the tokens the
    # code will bring can be revoked (a replayed code) without disconnecting it.
    await store.remember_consent(request.client_id, account_id, [request.scope])
    code = "ac_" + random_string(32)
    now = utc_now()
    await store.save_code(
        code,
        Authorization(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            subject=account_id,
            scopes=(request.scope,),
            issued_at=now,
            expires_at=now + CODE_LIFETIME,
            attributes={"email": email, "stripe_publishable_key": publishable_key(account_id)},
        ),
    )
    return redirect_url(
        request.redirect_uri, [("code", code), ("scope", request.scope), ("state", request.state)]
    )


def deny(request: AuthorizeRequest) -> str:
    return redirect_url(
        request.redirect_uri,
        [
            ("error", "access_denied"),
            ("error_description", "The user denied your request"),
            ("state", request.state),
        ],
    )


# -- token and deauthorize ------------------------------------------------------------------


def authenticate_platform(
    settings: Settings,
    params: Mapping[str, str],
    bearer: str | None,
    basic: tuple[str, str] | None,
) -> RegisteredClient:
    """The platform's secret key, however the client sends it (Stripe's SDKs: Bearer)."""
    client = registered_client(settings, SETTINGS_PROVIDER)
    key = bearer or (basic[0] if basic else None) or params.get("client_secret")
    if not key:
        raise OAuthError(
            "invalid_request",
            "No API key provided: send your secret key as a Bearer token, as the HTTP Basic "
            "username, or as the client_secret parameter.",
            401,
        )
    if not client.secret_matches(key):
        raise OAuthError("invalid_client", f"Invalid API Key provided: {_masked(key)}", 401)
    return client


def _masked(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"


async def token(
    store: OAuthStore, client: RegisteredClient, params: Mapping[str, str]
) -> dict[str, Any]:
    grant_type = params.get("grant_type", "")
    if not grant_type:
        raise OAuthError("invalid_request", "No grant type specified")
    if grant_type == "authorization_code":
        grant, access_token, refresh_token = await _exchange_code(store, client, params)
    elif grant_type == "refresh_token":
        grant, access_token, refresh_token = await _refresh(store, client, params)
    else:
        raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    return {
        "access_token": access_token,
        "livemode": False,
        "refresh_token": refresh_token,
        "scope": " ".join(grant.scopes),
        "stripe_publishable_key": grant.attributes["stripe_publishable_key"],
        "stripe_user_id": grant.subject,
        "token_type": "bearer",
    }


def _access_token() -> str:
    return "sk_test_" + random_string(99)


def _refresh_token() -> str:
    return "rt_" + random_string(61)


async def _exchange_code(
    store: OAuthStore, client: RegisteredClient, params: Mapping[str, str]
) -> tuple[Grant, str, str]:
    code = params.get("code", "")
    if not code:
        raise OAuthError("invalid_request", "No authorization code provided")
    redemption = await store.redeem_code(code)
    if redemption.status is CodeStatus.reused:
        raise OAuthError(
            "invalid_grant",
            "This authorization code has already been used. All tokens issued with this code "
            "have been revoked.",
        )
    if redemption.status is CodeStatus.expired:
        raise OAuthError("invalid_grant", f"Authorization code expired: {code}")
    authorization = redemption.authorization
    if authorization is None or authorization.client_id != client.client_id:
        raise OAuthError("invalid_grant", f"Authorization code does not exist: {code}")
    access_token, refresh_token = _access_token(), _refresh_token()
    grant = await store.create_grant(
        authorization,
        access_token=access_token,
        access_ttl=None,
        refresh_token=refresh_token,
        code=code,
    )
    return grant, access_token, refresh_token


async def _refresh(
    store: OAuthStore, client: RegisteredClient, params: Mapping[str, str]
) -> tuple[Grant, str, str]:
    old = params.get("refresh_token", "")
    if not old:
        raise OAuthError("invalid_request", "No refresh token provided")
    current = await store.grant_for_refresh_token(old)
    if current is None or current.client_id != client.client_id:
        raise OAuthError("invalid_grant", "Invalid refresh token")
    new = _refresh_token()
    grant = await store.rotate_refresh_token(old, new)
    if grant is None:  # a concurrent refresh rotated it first
        raise OAuthError("invalid_grant", "Invalid refresh token")
    access_token = _access_token()
    await store.add_access_token(grant, access_token, None)
    return grant, access_token, new


async def deauthorize(
    store: OAuthStore, client: RegisteredClient, params: Mapping[str, str]
) -> dict[str, Any]:
    client_id = params.get("client_id", "")
    account_id = params.get("stripe_user_id", "")
    if not client_id:
        raise OAuthError("invalid_request", "No client_id provided")
    if not account_id:
        raise OAuthError("invalid_request", "No stripe_user_id provided")
    not_connected = OAuthError(
        "invalid_client",
        f"This application is not connected to stripe account {account_id}, or that account "
        "does not exist.",
        401,
    )
    if client_id != client.client_id:
        raise not_connected
    if await store.consented_scopes(client_id, account_id) is None:
        raise not_connected
    await store.revoke_subject(account_id, client_id=client_id)
    return {"stripe_user_id": account_id}
