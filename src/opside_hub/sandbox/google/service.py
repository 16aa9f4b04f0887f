"""Google's OAuth 2.0 for web server apps, and the Gmail API's authentication.

Shapes follow "Using OAuth 2.0 for Web Server Applications":

- `GET /o/oauth2/v2/auth` with `client_id`, `redirect_uri`, `response_type=code`, `scope`,
  `state`, `code_challenge`/`code_challenge_method` (S256 or plain), `access_type`, `prompt`,
  `login_hint`, `include_granted_scopes`. Client and redirect URI errors are Google's error
  pages ("Error 400: redirect_uri_mismatch"), never redirects; a refusal comes back as
  `error=access_denied`.
- a refresh token is issued with `access_type=offline` on the first consent of an account to
  the client, or on every consent with `prompt=consent`.
- `POST /token`: `authorization_code` (`code`, `redirect_uri`, `code_verifier` checked against
  the challenge) or `refresh_token` (the answer has no new refresh token). Tokens look like
  Google's: `ya29.` access tokens, `1//` refresh tokens, `4/0` codes.
- `POST /revoke` with `token` (form or query): either token revokes the app's whole access to
  the account; 200, or 400 `invalid_token`.
- API errors have Google's JSON shape `{"error": {"code", "message", "errors", "status"}}`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opside_hub.config import Settings
from opside_hub.sandbox.exceptions import ApiError, ConsentError, OAuthError, RedirectError
from opside_hub.sandbox.oauth import (
    PKCE_METHODS,
    RegisteredClient,
    derived_string,
    pkce_matches,
    random_urlsafe,
    redirect_url,
    registered_client,
    split_scopes,
    valid_code_verifier,
)
from opside_hub.sandbox.oauth_store import Authorization, CodeStatus, Grant, OAuthStore, utc_now

PROVIDER = "google"
SETTINGS_PROVIDER = "gmail"
CODE_LIFETIME = timedelta(minutes=10)
DEFAULT_EMAIL = "seller@example.com"
ACCOUNT_FIELD = "email"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
# The redirect URI of codes obtained by a page's JavaScript popup (Google Identity Services'
# code client); such a code is exchanged with `redirect_uri=postmessage`.
POSTMESSAGE = "postmessage"
# The scopes any of which lets a token call users.getProfile (the discovery document's list).
GMAIL_PROFILE_SCOPES = frozenset(
    {
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.metadata",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.readonly",
    }
)
_SCOPE_PREFIXES = ("https://www.googleapis.com/auth/", "https://mail.google.com/")
_OPENID_SCOPES = frozenset({"openid", "email", "profile"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROMPTS = frozenset({"none", "consent", "select_account"})


def normalize_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(_EMAIL.match(email))


def google_user_id(email: str) -> str:
    """A stable numeric account id (Google's `sub`) for a sandbox address."""
    return "1" + derived_string(f"google-account:{normalize_email(email)}", 20, string.digits)


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    prompts: frozenset[str]
    login_hint: str
    include_granted_scopes: bool


def parse_auth_request(settings: Settings, params: Mapping[str, str]) -> AuthRequest:
    client = registered_client(settings, SETTINGS_PROVIDER)
    client_id = params.get("client_id", "")
    if not client_id:
        raise _page_error("invalid_request", "Missing required parameter: client_id")
    if client_id != client.client_id:
        raise _page_error("invalid_client", "The OAuth client was not found.", 401)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise _page_error("invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in (client.redirect_uri, POSTMESSAGE):
        raise _page_error(
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
            f"policy: the redirect URI {redirect_uri!r} is not registered for this client.",
        )
    response_type = params.get("response_type", "")
    if not response_type:
        raise _page_error("invalid_request", "Required parameter is missing: response_type")
    if response_type != "code":
        raise _page_error("unsupported_response_type", f"Invalid response_type: {response_type!r}")
    scopes = split_scopes(params.get("scope", ""))
    if not scopes:
        raise _page_error("invalid_request", "Missing required parameter: scope")
    if invalid := [scope for scope in scopes if not _known_scope(scope)]:
        raise _page_error("invalid_scope", f"Some requested scopes were invalid. {invalid}")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if method is not None and challenge is None:
        raise _page_error("invalid_request", "code_challenge_method without code_challenge")
    if challenge is not None:
        method = method or "plain"  # RFC 7636 §4.3
        if method not in PKCE_METHODS:
            raise _page_error("invalid_request", f"Invalid code_challenge_method: {method!r}")
        if not valid_code_verifier(challenge):
            raise _page_error("invalid_request", "Invalid code_challenge.")
    access_type = params.get("access_type", "online") or "online"
    if access_type not in ("online", "offline"):
        raise _page_error("invalid_request", f"Invalid access_type: {access_type!r}")
    prompts = frozenset(params.get("prompt", "").split())
    if not prompts <= _PROMPTS or ("none" in prompts and len(prompts) > 1):
        raise _page_error("invalid_request", f"Invalid prompt: {params.get('prompt')!r}")
    request = AuthRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=params.get("state", ""),
        code_challenge=challenge,
        code_challenge_method=method if challenge else None,
        offline=access_type == "offline",
        prompts=prompts,
        login_hint=params.get("login_hint", ""),
        include_granted_scopes=params.get("include_granted_scopes") == "true",
    )
    if "none" in prompts and redirect_uri != POSTMESSAGE:
        # Nobody is ever signed in to the sandbox, so a silent request cannot succeed.
        raise RedirectError(
            redirect_url(redirect_uri, [("error", "login_required"), ("state", request.state)])
        )
    return request


def _known_scope(scope: str) -> bool:
    return scope in _OPENID_SCOPES or scope.startswith(_SCOPE_PREFIXES)


def _page_error(code: str, message: str, status_code: int = 400) -> ConsentError:
    return ConsentError(PROVIDER, code, message, status_code)


async def approve(store: OAuthStore, request: AuthRequest, email: str) -> list[tuple[str, str]]:
    """Issue a code for the account; returns the authorization response's parameters."""
    email = normalize_email(email)
    previous = await store.consented_scopes(request.client_id, email)
    scopes = list(request.scopes)
    if request.include_granted_scopes and previous:
        scopes += sorted(previous - set(scopes))
    # Google remembers every scope an account ever granted a client, asked for again or not.
    await store.remember_consent(request.client_id, email, set(scopes) | (previous or set()))
    code = "4/0A" + random_urlsafe(72)
    now = utc_now()
    await store.save_code(
        code,
        Authorization(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            subject=email,
            scopes=tuple(scopes),
            issued_at=now,
            expires_at=now + CODE_LIFETIME,
            attributes={"email": email, "sub": google_user_id(email)},
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            offline=request.offline and (previous is None or "consent" in request.prompts),
        ),
    )
    return [
        ("state", request.state),
        ("code", code),
        ("scope", " ".join(scopes)),
        ("authuser", "0"),
        ("prompt", "consent"),
    ]


def deny(request: AuthRequest) -> list[tuple[str, str]]:
    return [("error", "access_denied"), ("state", request.state)]


# -- token endpoint -------------------------------------------------------------------------


def authenticate_client(
    settings: Settings, params: Mapping[str, str], basic: tuple[str, str] | None
) -> RegisteredClient:
    client = registered_client(settings, SETTINGS_PROVIDER)
    client_id, secret = basic or (params.get("client_id", ""), params.get("client_secret"))
    if not client_id:
        raise OAuthError("invalid_request", "Could not determine client ID from request.")
    if client_id != client.client_id:
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if not client.secret_matches(secret):
        raise OAuthError("invalid_client", "Unauthorized", 401)
    return client


async def token(
    store: OAuthStore,
    settings: Settings,
    params: Mapping[str, str],
    basic: tuple[str, str] | None,
) -> dict[str, Any]:
    grant_type = params.get("grant_type", "")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    client = authenticate_client(settings, params, basic)
    if grant_type == "authorization_code":
        return await _exchange_code(store, settings, client, params)
    return await _refresh(store, settings, client, params)


async def _exchange_code(
    store: OAuthStore, settings: Settings, client: RegisteredClient, params: Mapping[str, str]
) -> dict[str, Any]:
    code = params.get("code", "")
    if not code:
        raise OAuthError("invalid_request", "Missing required parameter: code")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise OAuthError("invalid_request", "Missing required parameter: redirect_uri")
    redemption = await store.redeem_code(code)
    authorization = redemption.authorization
    if (
        redemption.status is not CodeStatus.valid
        or authorization is None
        or authorization.client_id != client.client_id
    ):
        raise OAuthError("invalid_grant", "Bad Request")
    if redirect_uri != authorization.redirect_uri:
        raise OAuthError("redirect_uri_mismatch", "Bad Request")
    verifier = params.get("code_verifier", "")
    if authorization.code_challenge is None:
        if verifier:
            raise OAuthError("invalid_request", "code_verifier or verifier is not needed.")
    elif not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.")
    elif not pkce_matches(
        verifier, authorization.code_challenge, authorization.code_challenge_method or "plain"
    ):
        raise OAuthError("invalid_grant", "Invalid code verifier.")
    access_token = _access_token()
    refresh_token = "1//0" + random_urlsafe(100) if authorization.offline else None
    await store.create_grant(
        authorization,
        access_token=access_token,
        access_ttl=timedelta(seconds=settings.sandbox_token_ttl_seconds),
        refresh_token=refresh_token,
        code=code,
    )
    body = _token_body(settings, access_token, authorization.scopes)
    if refresh_token:
        body["refresh_token"] = refresh_token
    return body


async def _refresh(
    store: OAuthStore, settings: Settings, client: RegisteredClient, params: Mapping[str, str]
) -> dict[str, Any]:
    refresh_token = params.get("refresh_token", "")
    if not refresh_token:
        raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
    grant = await store.grant_for_refresh_token(refresh_token)
    if grant is None:
        raise OAuthError("invalid_grant", "Token has been expired or revoked.")
    if grant.client_id != client.client_id:
        raise OAuthError("unauthorized_client", "Unauthorized")
    access_token = _access_token()
    await store.add_access_token(
        grant, access_token, timedelta(seconds=settings.sandbox_token_ttl_seconds)
    )
    # Google answers a refresh without a refresh token: the one the client holds stays valid.
    return _token_body(settings, access_token, grant.scopes)


def _access_token() -> str:
    return "ya29." + random_urlsafe(160)


def _token_body(settings: Settings, access_token: str, scopes: Iterable[str]) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "expires_in": settings.sandbox_token_ttl_seconds,
        "scope": " ".join(scopes),
        "token_type": "Bearer",
    }


async def revoke(store: OAuthStore, params: Mapping[str, str]) -> None:
    token = params.get("token", "")
    if not token:
        raise OAuthError("invalid_request", "Bad Request")
    grant = await store.revoke_token(token)
    if grant is None:
        raise OAuthError("invalid_token", "Token expired or revoked")
    # Revoking removes the app from the account: every other grant to it goes as well.
    await store.revoke_subject(grant.subject, client_id=grant.client_id)


# -- Gmail API authentication ---------------------------------------------------------------


def api_error(code: int, message: str, status: str, reason: str, **extra: str) -> dict[str, Any]:
    """Google's JSON error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason, **extra}],
            "status": status,
        }
    }


_CREDENTIALS_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


async def authenticate(store: OAuthStore, token: str | None, scopes: Iterable[str]) -> Grant:
    """The grant of a Gmail API call's bearer token, or Google's 401/403 error."""
    challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    if not token:
        raise ApiError(
            401,
            api_error(
                401,
                f"Request is missing required authentication credential. {_CREDENTIALS_HINT}",
                "UNAUTHENTICATED",
                "required",
                location="Authorization",
                locationType="header",
            ),
            challenge,
        )
    grant = await store.resolve_access_token(token)
    if grant is None:
        raise ApiError(
            401,
            api_error(
                401,
                f"Request had invalid authentication credentials. {_CREDENTIALS_HINT}",
                "UNAUTHENTICATED",
                "authError",
                location="Authorization",
                locationType="header",
            ),
            {"WWW-Authenticate": challenge["WWW-Authenticate"] + ', error="invalid_token"'},
        )
    if not grant.has_any_scope(scopes):
        raise ApiError(
            403,
            api_error(
                403,
                "Request had insufficient authentication scopes.",
                "PERMISSION_DENIED",
                "insufficientPermissions",
            ),
            {"WWW-Authenticate": challenge["WWW-Authenticate"] + ', error="insufficient_scope"'},
        )
    return grant


def check_user_id(grant: Grant, user_id: str) -> None:
    """`userId` is `me` or the account's own address; anything else is delegation."""
    if user_id != "me" and normalize_email(user_id) != grant.subject:
        raise ApiError(
            403,
            api_error(
                403, f"Delegation denied for {grant.subject}", "PERMISSION_DENIED", "forbidden"
            ),
        )
