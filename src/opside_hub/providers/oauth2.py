"""What the three providers' OAuth 2.0 token endpoints have in common.

Each provider module (`amazon/oauth.py`, ...) names its endpoints and parameters; this module
posts the form, retries transient failures, and turns the answer into a `TokenGrant` or an
`OAuthError` that carries the provider's `error` code (never the request's secrets).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx2
from pydantic import SecretStr

from opside_hub.core.logging import get_logger
from opside_hub.observability.metrics import observe_provider_call

log = get_logger(__name__)
ATTEMPTS = 3
BACKOFF_S = 0.5


@dataclass(frozen=True)
class TokenGrant:
    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_in: int | None
    scopes: tuple[str, ...] = ()
    token_type: str = "bearer"  # noqa: S105 - a token type, not a secret
    # Non-secret fields some providers add (Stripe's stripe_user_id, livemode...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def expires_at(self, now: datetime) -> datetime | None:
        return now + timedelta(seconds=self.expires_in) if self.expires_in is not None else None


class OAuthError(Exception):
    """The provider refused a token request; `error` is its OAuth error code."""

    def __init__(self, provider: str, error: str, description: str, status_code: int) -> None:
        self.provider = provider
        self.error = error
        self.description = description
        self.status_code = status_code
        super().__init__(f"{provider} token endpoint: {error} ({status_code}): {description}")

    @property
    def invalid_grant(self) -> bool:
        """The grant (code or refresh token) is dead: only the user can give a new one."""
        return self.error == "invalid_grant"

    @property
    def transient(self) -> bool:
        return self.status_code >= 500 or self.status_code in (408, 429)


SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token"})


async def request_token(
    http: httpx2.AsyncClient,
    url: str,
    form: Mapping[str, str],
    *,
    provider: str,
    auth: httpx2.Auth | None = None,
) -> TokenGrant:
    """POST a token request (form-encoded) and parse the grant, retrying transient failures."""
    response = await post_with_retries(http, url, form, provider=provider, auth=auth)
    payload = _json(response)
    if response.is_error or "access_token" not in payload:
        raise OAuthError(
            provider,
            str(payload.get("error") or "invalid_response"),
            str(payload.get("error_description") or f"HTTP {response.status_code}"),
            response.status_code,
        )
    scope = payload.get("scope") or ""
    expires_in = payload.get("expires_in")
    return TokenGrant(
        access_token=SecretStr(str(payload["access_token"])),
        refresh_token=SecretStr(str(payload["refresh_token"]))
        if payload.get("refresh_token")
        else None,
        expires_in=int(expires_in) if expires_in is not None else None,
        scopes=tuple(scope.split()) if isinstance(scope, str) else tuple(scope),
        token_type=str(payload.get("token_type") or "bearer"),
        extra={
            k: v
            for k, v in payload.items()
            if k not in SECRET_FIELDS and not k.startswith("expires")
        },
    )


async def post_with_retries(
    http: httpx2.AsyncClient,
    url: str,
    form: Mapping[str, str],
    *,
    provider: str,
    auth: httpx2.Auth | None = None,
) -> httpx2.Response:
    """POST a form; network errors, 5xx and 429 are retried with jittered backoff."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await observe_provider_call(
                provider,
                _operation(url, form),
                http.post(
                    url,
                    data=dict(form),
                    headers={"Accept": "application/json"},
                    auth=auth if auth is not None else httpx2.USE_CLIENT_DEFAULT,
                ),
            )
        except httpx2.TransportError as exc:
            if attempt == ATTEMPTS:
                raise OAuthError(provider, "unreachable", type(exc).__name__, 503) from exc
            log.warning(
                "oauth.request.retry",
                provider=provider,
                attempt=attempt,
                error_type=type(exc).__name__,
            )
        else:
            if (
                not (response.status_code >= 500 or response.status_code == 429)
                or attempt == ATTEMPTS
            ):
                return response
            log.warning(
                "oauth.request.retry",
                provider=provider,
                attempt=attempt,
                status=response.status_code,
            )
        await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1) * (0.5 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")


def _operation(url: str, form: Mapping[str, str]) -> str:
    """The metrics name of a token-endpoint call: `oauth.refresh_token`,
    `oauth.authorization_code`, or the endpoint's last path segment (`oauth.revoke`,
    `oauth.deauthorize`); the URLs come from configuration, so the names are few."""
    grant_type = form.get("grant_type")
    return f"oauth.{grant_type or url.rstrip('/').rsplit('/', 1)[-1]}"


def oauth_error_code(response: httpx2.Response) -> str:
    """The `error` field of an OAuth error body, or "" when there is none."""
    return str(_json(response).get("error") or "")


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
