"""What the three sandbox OAuth servers share: the registered clients, request parsing, client
authentication, PKCE, redirects, and token/identifier generation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from starlette.requests import Request

from opside_hub.config import Settings
from opside_hub.sandbox.exceptions import ConsentError, OAuthError

ALNUM_UPPER = string.ascii_uppercase + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
MAX_PARAM_BYTES = 64 * 1024


@dataclass(frozen=True)
class RegisteredClient:
    """The one OAuth client each sandbox provider knows: the hub's own credentials."""

    client_id: str
    client_secret: str
    redirect_uri: str

    def secret_matches(self, secret: str | None) -> bool:
        return secret is not None and hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        )


def registered_client(settings: Settings, provider: str) -> RegisteredClient:
    """`provider` as settings name it: `amazon`, `gmail`, `stripe`."""
    client_id, client_secret = settings.client_credentials(provider)
    return RegisteredClient(client_id, client_secret, settings.redirect_uri(provider))


# -- requests -------------------------------------------------------------------------------


async def read_params(request: Request, *, include_query: bool = False) -> dict[str, str]:
    """The parameters of a token-style request: a form body (what the RFC specifies) or a JSON
    object (Amazon's own LWA clients send JSON), optionally merged over the query string."""
    params: dict[str, str] = dict(request.query_params) if include_query else {}
    body = await request.body()
    if len(body) > MAX_PARAM_BYTES:
        raise OAuthError("invalid_request", "The request body is too large.")
    if not body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise OAuthError("invalid_request", "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", "The request body must be a JSON object.")
        params.update({str(k): str(v) for k, v in data.items() if v is not None})
        return params
    params.update(parse_form(body))
    return params


def parse_form(body: bytes) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the last value of a repeated name wins)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "The request body is not UTF-8.") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """A consent page's form submission, every pair in order (hidden fields may repeat)."""
    body = await request.body()
    if len(body) > MAX_PARAM_BYTES:
        raise ConsentError("sandbox", "request_too_large", "The form submission is too large.")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise ConsentError("sandbox", "invalid_request", "The form is not UTF-8.") from exc


def decision(provider: str, fields: Mapping[str, str]) -> str:
    """Which button of a consent page was pressed: `approve` or `deny`."""
    value = fields.get("decision", "")
    if value not in ("approve", "deny"):
        raise ConsentError(provider, "invalid_request", "Choose Approve or Deny.")
    return value


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic credentials; RFC 6749 §2.3.1 form-encodes id and secret before base64."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(user), unquote_plus(password)


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def check_same_origin(request: Request, settings: Settings, provider: str) -> None:
    """Consent forms may only be submitted from the consent page itself.

    Browsers label a form POST with `Sec-Fetch-Site`; a `cross-site` or `same-site` one is a
    forgery. `Origin` is checked too when it names an origin: under the pages' no-referrer
    policy browsers send `Origin: null` even for the page's own form, so "null" is left to
    `Sec-Fetch-Site`. Clients that send neither header (scripts, tests) are let through.
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}", _origin(settings.base_url)}
    if (site is not None and site not in ("same-origin", "none")) or (
        origin not in (None, "null") and origin not in own
    ):
        raise ConsentError(
            provider, "forbidden", "This form was submitted from another site.", status_code=403
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- responses ------------------------------------------------------------------------------


def redirect_url(redirect_uri: str, params: list[tuple[str, str]]) -> str:
    """`redirect_uri` with `params` added to its query (its own query is kept, RFC 6749 §3.1.2)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params if v]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


# -- PKCE (RFC 7636) ------------------------------------------------------------------------

PKCE_METHODS = ("S256", "plain")


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return hmac.compare_digest(expected.encode(), challenge.encode())


def valid_code_verifier(verifier: str) -> bool:
    allowed = set(string.ascii_letters + string.digits + "-._~")
    return 43 <= len(verifier) <= 128 and set(verifier) <= allowed


# -- tokens and identifiers -----------------------------------------------------------------


def random_string(length: int, alphabet: str = BASE62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_urlsafe(length: int) -> str:
    return secrets.token_urlsafe(length)[:length]


def derived_string(seed: str, length: int, alphabet: str) -> str:
    """A stable string of `length` symbols from `alphabet`: the same seed, the same string, on
    every machine and run (sandbox accounts are deterministic)."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    symbols = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        symbols.append(alphabet[index])
    return "".join(symbols)


def split_scopes(value: str) -> tuple[str, ...]:
    """OAuth scopes are space-separated (RFC 6749 §3.3); duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for scope in value.split():
        seen.setdefault(scope, None)
    return tuple(seen)
