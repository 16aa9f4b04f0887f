"""What stands before every sandbox Stripe API request, as Stripe's edge does it.

**Authentication**, as Stripe documents it: the secret key as a Bearer token or as the HTTP
Basic username. Two kinds of key are known:
- the platform's secret key (`settings.client_credentials("stripe")`), acting on the platform's
  own account, or on a connected account named by `Stripe-Account` — one that connected to the
  platform through Connect OAuth (and has not deauthorized it), or one the platform created
  with `POST /v1/accounts`; any other is 403 `account_invalid`, as Stripe answers it;
- a connected account's OAuth access token (`sk_test_…` from `/oauth/token`), acting on that
  account.
No key is 401 with Stripe's message; an unknown key is 401 "Invalid API Key provided", masked.

**Faults**, after authentication: first those a test queued with
`POST /sandbox/_admin/stripe/faults` for a method and path (deterministic), then
`SANDBOX_FAULT_RATE` of requests (kinds from `SANDBOX_FAULT_KINDS`: 429, 500, 503, timeout),
reproducible with `SANDBOX_FAULT_SEED`. A fault happens before the endpoint runs, so — as at
Stripe — it saves no idempotent result: a retry with the same key runs the request.

Every answer carries a `Request-Id`; errors have Stripe's shape, `{"error": {"type", "message",
"code"?, "param"?}}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from opside_hub.runtime import Runtime
from opside_hub.sandbox.exceptions import SandboxError
from opside_hub.sandbox.oauth import (
    BASE62,
    RegisteredClient,
    basic_credentials,
    bearer_token,
    derived_string,
    random_string,
    registered_client,
)
from opside_hub.sandbox.oauth_store import OAuthStore, resolve_access_token

PROVIDER = "stripe"
API_VERSION = "2023-08-16"
FAULT_KINDS = ("429", "500", "503", "timeout")
DOC_URL = "https://stripe.com/docs/error-codes/"


class StripeError(SandboxError):
    """A Stripe API error response."""

    def __init__(
        self,
        status_code: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body: dict[str, Any] = {"type": error_type, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = DOC_URL + code.replace("_", "-")
        if param is not None:
            self.body["param"] = param
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status_code}: {message}")

    def response(self) -> Response:
        headers = {"Request-Id": request_id(), **self.headers}
        return JSONResponse({"error": self.body}, status_code=self.status_code, headers=headers)


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status_code: int = 400
) -> StripeError:
    return StripeError(status_code, "invalid_request_error", message, code=code, param=param)


def resource_missing(what: str, object_id: str, param: str = "id") -> StripeError:
    return invalid_request(
        f"No such {what}: '{object_id}'", param=param, code="resource_missing", status_code=404
    )


def request_id() -> str:
    return "req_" + random_string(14)


def masked(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "****"


def platform_account_id(client_id: str) -> str:
    """The platform's own Stripe account."""
    return "acct_1" + derived_string(f"stripe-platform:{client_id}", 15, BASE62)


@dataclass
class Caller:
    """An admitted request: whose key, acting on which account."""

    runtime: Runtime
    client: RegisteredClient
    account: str  # the account acted on (the platform's own without Stripe-Account)
    platform: bool  # authenticated with the platform's key (not an account's OAuth token)
    connected: bool  # acting on a connected account, not on the platform itself
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_scope(self) -> str:
        return f"{self.client.client_id}:{self.account}"

    def json(self, body: Any, extra_headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(body, headers={**self.headers, **(extra_headers or {})})


def oauth_store(runtime: Runtime) -> OAuthStore:
    return OAuthStore(runtime.redis, runtime.redis_server.key, PROVIDER)


def key_fn(runtime: Runtime, *parts: str) -> str:
    return runtime.redis_server.key("sandbox", PROVIDER, *parts)


async def is_connected(runtime: Runtime, client_id: str, account: str) -> bool:
    """Connected to the platform: by Connect OAuth (until deauthorized), or created by it."""
    if await runtime.redis.sismember(key_fn(runtime, "platform-accounts"), account):
        return True
    return await oauth_store(runtime).consented_scopes(client_id, account) is not None


async def admit(request: Request, runtime: Runtime) -> Caller:
    headers = {"Request-Id": request_id(), "Stripe-Version": API_VERSION}
    key = bearer_token(request)
    if key is None and (basic := basic_credentials(request)) is not None:
        key = basic[0]
    if not key:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.",
            headers=headers,
        )
    client = registered_client(runtime.settings, PROVIDER)
    named = request.headers.get("stripe-account", "").strip() or None
    no_access = StripeError(
        403,
        "invalid_request_error",
        f"The provided key '{masked(key)}' does not have access to account '{named}' (or that "
        "account does not exist). Application access may have been revoked.",
        code="account_invalid",
        headers=headers,
    )
    if client.secret_matches(key):
        if named is not None and not await is_connected(runtime, client.client_id, named):
            raise no_access
        account = named or platform_account_id(client.client_id)
        caller = Caller(runtime, client, account, True, named is not None, headers)
    else:
        grant = await resolve_access_token(runtime.redis, runtime.redis_server.key, PROVIDER, key)
        if grant is None:
            raise StripeError(
                401,
                "invalid_request_error",
                f"Invalid API Key provided: {masked(key)}",
                code="api_key_invalid" if key.startswith("sk_") else None,
                headers=headers,
            )
        if named is not None and named != grant.subject:
            raise no_access
        caller = Caller(runtime, client, grant.subject, False, True, headers)
    await _maybe_fail(request, caller)
    return caller


# -- faults ----------------------------------------------------------------------------------


def fault_key(runtime: Runtime, method: str, path: str) -> str:
    return key_fn(runtime, "faults", method.upper(), path)


async def queue_faults(runtime: Runtime, method: str, path: str, statuses: list[int]) -> None:
    """Make the next requests to `method path` fail with these statuses, in order."""
    key = fault_key(runtime, method, path)
    await runtime.redis.rpush(key, *[str(status) for status in statuses])
    await runtime.redis.expire(key, 3600)


async def _maybe_fail(request: Request, caller: Caller) -> None:
    runtime = caller.runtime
    # The route's template (`/v1/accounts/{account_id}`), whatever prefixes mount it.
    template = str(getattr(request.scope.get("route"), "path", request.url.path))
    path = template[template.find("/v1/") :] if "/v1/" in template else template
    queued = await runtime.redis.lpop(fault_key(runtime, request.method, path))
    if queued is not None:
        status = queued.decode() if isinstance(queued, bytes) else str(queued)
        raise _fault(int(status), caller.headers)
    fault = await _random_fault(runtime, f"{caller.account}:{request.method} {path}")
    if fault == "timeout":
        await asyncio.sleep(runtime.settings.sandbox_fault_hang_seconds)
    elif fault is not None:
        raise _fault(int(fault), caller.headers)


def _fault(status: int, headers: dict[str, str]) -> StripeError:
    if status == 429:
        return StripeError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
            headers=headers,
        )
    if status == 409:
        return StripeError(
            409,
            "invalid_request_error",
            "This object cannot be accessed right now because another API request or Stripe "
            "process is currently accessing it.",
            code="lock_timeout",
            headers={**headers, "Stripe-Should-Retry": "true"},
        )
    if status >= 500:
        return StripeError(
            status,
            "api_error",
            "An unknown error occurred",
            headers={**headers, "Stripe-Should-Retry": "true"},
        )
    return StripeError(
        status,
        "invalid_request_error",
        "The sandbox refused this request on purpose (an injected fault).",
        headers={**headers, "Stripe-Should-Retry": "false"},
    )


async def _random_fault(runtime: Runtime, scope: str) -> str | None:
    settings = runtime.settings
    allowed = [k.strip() for k in settings.sandbox_fault_kinds.split(",")]
    kinds = [kind for kind in FAULT_KINDS if kind in allowed]
    if settings.sandbox_fault_rate <= 0 or not kinds:
        return None
    if settings.sandbox_fault_seed is None:
        draw, pick = random.random(), random.randrange(len(kinds))  # noqa: S311 - not secrets
    else:
        counter = key_fn(runtime, "fault-count", scope)
        number = await runtime.redis.incr(counter)
        await runtime.redis.expire(counter, 86_400)
        digest = hashlib.sha256(f"{settings.sandbox_fault_seed}|{scope}|{number}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        pick = int.from_bytes(digest[8:16], "big") % len(kinds)
    return kinds[pick] if draw < settings.sandbox_fault_rate else None
