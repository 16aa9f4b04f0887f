"""The Stripe API client: balance transactions and Connect accounts, on the platform's key.

**Authentication.** Every call authenticates with the platform's secret key and, to act on a
connected account, names it in the `Stripe-Account` header. Stripe recommends this over the
account's OAuth access token: it is the one way that works for every kind of connected account
(the Standard accounts connected by OAuth *and* the Express accounts onboarding creates, which
have no OAuth token at all), there is no per-account token to decrypt or rotate, and a seller
who disconnects is refused at once (403 `account_invalid`) instead of us holding a live token.
The OAuth grant is still what *connects* the account: its `stripe_user_id` is what we name.

**Why no SDK.** The `stripe` package would bring its own HTTP stack (`requests`, or `httpx`
beside our httpx2) and untyped `StripeObject`s; the three endpoints we use are plain
form-encoded REST. This client shares the process's `httpx2.AsyncClient` (timeouts, pooling),
pins `Stripe-Version` to the spec the sandbox is tested against, and does what Stripe's SDKs do
around a request:
- retries transport errors, 409, 429 and 5xx with exponential backoff and jitter, unless Stripe
  says `Stripe-Should-Retry: false` (and retries anything it marks `true`);
- sends an `Idempotency-Key` with every POST, the same on each retry (the caller may derive
  it, as onboarding does, so that separate jobs cannot create two objects);
- raises `StripeApiError` carrying Stripe's error `type`, `code`, status and `Request-Id`
  (never the request, which holds the key).
The SDK still serves in the tests, as an independent check that the sandbox speaks Stripe.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from pydantic import SecretStr

from opside_hub.core.exceptions import ProviderError, ServiceUnavailable
from opside_hub.core.logging import get_logger
from opside_hub.observability.metrics import observe_provider_call
from opside_hub.runtime import Runtime

log = get_logger(__name__)

API_VERSION = "2023-08-16"
BALANCE_TRANSACTIONS = "/v1/balance_transactions"
ACCOUNTS = "/v1/accounts"
ACCOUNT = "/v1/account"
PAGE_LIMIT = 100  # Stripe's maximum
MAX_ATTEMPTS = 3
BACKOFF_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_STATUSES = frozenset({409, 429})

Sleep = Callable[[float], Awaitable[None]]


class StripeApiError(ProviderError):
    """Stripe answered with an error (or could not be reached: `status` 0)."""

    code = "stripe_error"
    message = "Stripe returned an error."

    def __init__(
        self,
        status: int,
        *,
        error_type: str = "",
        error_code: str = "",
        stripe_message: str = "",
        request_id: str = "",
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id
        super().__init__(
            f"Stripe answered {status}: {error_type} {error_code}".strip(),
            details={
                "status": status,
                "type": error_type or None,
                "code": error_code or None,
                "message": stripe_message or None,
                "requestId": request_id or None,
            },
        )

    @property
    def account_unavailable(self) -> bool:
        """The connected account is gone for us: disconnected from the platform, or deleted."""
        return self.status == 403 or self.error_code == "account_invalid"


class StripeNotConfigured(ServiceUnavailable):
    code = "stripe_not_configured"
    message = "Stripe is not configured: set STRIPE_CLIENT_SECRET (the platform's secret key)."


class SecretKeyAuth(httpx2.Auth):
    """The secret key as a Bearer token, which is what Stripe's own SDKs send."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "SecretKeyAuth(***)"


@dataclass(frozen=True)
class ListPage:
    """One page of a Stripe list (`{"object": "list", "data": [...], "has_more": ...}`)."""

    data: list[dict[str, Any]]
    has_more: bool


class StripeClient:
    def __init__(
        self,
        http: httpx2.AsyncClient,
        base_url: str,
        secret_key: SecretStr,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not secret_key.get_secret_value():
            raise StripeNotConfigured()
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.auth = SecretKeyAuth(secret_key)
        self.sleep = sleep

    @classmethod
    def for_platform(cls, runtime: Runtime) -> StripeClient:
        _, secret_key = runtime.settings.client_credentials("stripe")
        return cls(
            runtime.http, runtime.settings.endpoints().stripe_api_base_url, SecretStr(secret_key)
        )

    async def list_balance_transactions(
        self,
        account: str,
        *,
        created_gte: int | None = None,
        starting_after: str | None = None,
        limit: int = PAGE_LIMIT,
    ) -> ListPage:
        """A page of the account's balance transactions, newest first."""
        params: dict[str, str] = {"limit": str(limit)}
        if created_gte is not None:
            params["created[gte]"] = str(created_gte)
        if starting_after:
            params["starting_after"] = starting_after
        body = await self.request("GET", BALANCE_TRANSACTIONS, params=params, account=account)
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise StripeApiError(502, error_type="invalid_response")
        return ListPage(data=data, has_more=bool(body.get("has_more")))

    async def retrieve_account(self, account: str | None = None) -> dict[str, Any]:
        """The connected account named (or the platform's own account)."""
        return await self.request("GET", ACCOUNT, account=account)

    async def create_account(
        self,
        params: Mapping[str, str],
        *,
        idempotency_key: str,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> dict[str, Any]:
        """Create a connected account; the same key always answers with the same account."""
        return await self.request(
            "POST",
            ACCOUNTS,
            form=params,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        account: str | None = None,
        idempotency_key: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> dict[str, Any]:
        headers = {"Stripe-Version": API_VERSION, "Accept": "application/json"}
        if account:
            headers["Stripe-Account"] = account
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        for attempt in range(1, max_attempts + 1):
            try:
                response = await observe_provider_call(
                    "stripe",
                    f"{method} {path}",  # our paths carry no ids: `GET /v1/balance_transactions`
                    self.http.request(
                        method,
                        f"{self.base_url}{path}",
                        params=params,
                        data=dict(form) if form is not None else None,
                        headers=headers,
                        auth=self.auth,
                    ),
                )
            except httpx2.TransportError as exc:
                if attempt == max_attempts:
                    raise StripeApiError(0, error_type="api_connection_error") from exc
                log.warning(
                    "stripe.request.retry",
                    path=path,
                    attempt=attempt,
                    error_type=type(exc).__name__,
                )
                await self.sleep(_backoff(attempt))
                continue
            if response.is_success:
                return _json_object(response)
            error = _error(response)
            if attempt == max_attempts or not _should_retry(response):
                raise error
            log.warning(
                "stripe.request.retry",
                path=path,
                attempt=attempt,
                status=response.status_code,
                request_id=error.request_id,
            )
            await self.sleep(_backoff(attempt, response))
        raise AssertionError("unreachable")


def _should_retry(response: httpx2.Response) -> bool:
    """Stripe's own rule (its SDKs'), plus 429: the header decides when present."""
    header = response.headers.get("stripe-should-retry")
    if header == "false":
        return False
    if header == "true":
        return True
    return response.status_code in RETRY_STATUSES or response.status_code >= 500


def _backoff(attempt: int, response: httpx2.Response | None = None) -> float:
    if response is not None and (retry_after := response.headers.get("retry-after")):
        try:
            return min(BACKOFF_CAP_S, max(0.0, float(retry_after)))
        except ValueError:
            pass
    delay = min(BACKOFF_CAP_S, BACKOFF_S * 2.0 ** (attempt - 1))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def _json_object(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise StripeApiError(
            502, error_type="invalid_response", request_id=response.headers.get("request-id", "")
        )
    return body


def _error(response: httpx2.Response) -> StripeApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    return StripeApiError(
        response.status_code,
        error_type=str(error.get("type") or ""),
        error_code=str(error.get("code") or ""),
        stripe_message=str(error.get("message") or "")[:500],
        request_id=response.headers.get("request-id", ""),
    )
