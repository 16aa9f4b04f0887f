"""What stands before every sandbox SP-API operation, as Amazon's gateway does it.

In order: the `x-amz-access-token` (403 `Unauthorized` with Amazon's three `details`: missing,
revoked/malformed/invalid, expired), the usage plan (a token bucket per selling partner and
operation with the model's rate and burst; an empty bucket is 429 `QuotaExceeded` and takes
nothing), then injected faults. Every answer, errors included, carries `x-amzn-RequestId` and the
`x-amzn-RateLimit-Limit` that was applied.

Quotas: `SANDBOX_RATE_SCALE` multiplies the models' rates (bursts stay), and the header announces
the scaled rate, so a client that adopts it paces itself to the sandbox; 0 turns quotas off (the
header then announces the model's rate).

Faults: `SANDBOX_FAULT_RATE` of requests fail with one of `SANDBOX_FAULT_KINDS`. With
`SANDBOX_FAULT_SEED` the n-th request of a (seller, operation) gets the same fate in every run and
every process (a Redis counter numbers them); without it, chance decides. API operations know
429, 500, 503 and `timeout` (a hang of `SANDBOX_FAULT_HANG_SECONDS`, then the normal answer);
report-document downloads know 500, 503, `timeout`, `truncate` (a gzip cut short) and `slow`
(see `endpoints.download_document`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from opside_hub.core.token_bucket import Rate, TokenBuckets
from opside_hub.runtime import Runtime
from opside_hub.sandbox.exceptions import SandboxError
from opside_hub.sandbox.oauth_store import Grant, resolve_access_token

PROVIDER = "amazon"

# The usage plans of the operations' models (shared/specs/amazon), requests/second and burst.
OPERATION_RATES: dict[str, Rate] = {
    "getMarketplaceParticipations": Rate(0.016, 15),
    "createReport": Rate(0.0167, 15),
    "getReports": Rate(0.0222, 10),
    "getReport": Rate(2.0, 15),
    "cancelReport": Rate(0.0222, 10),
    "getReportDocument": Rate(0.0167, 15),
    "listFinancialEvents": Rate(0.5, 30),
    "getInventorySummaries": Rate(2.0, 2),
}

FAULT_KINDS = ("429", "500", "503", "timeout", "truncate", "slow")
API_FAULTS = frozenset({"429", "500", "503", "timeout"})
DOWNLOAD_FAULTS = frozenset({"500", "503", "timeout", "truncate", "slow"})

ACCESS_DENIED = "Access to requested resource is denied."
# The `details` of Amazon's 403 for a missing, an unknown/revoked and an expired access token.
DENIED_DETAILS = {
    "missing": "Access token is missing in the request header.",
    "invalid": "The access token you provided is revoked, malformed or invalid.",
    "expired": "The access token you provided has expired.",
}


def error(code: str, message: str, details: str | None = None) -> dict[str, str]:
    item = {"code": code, "message": message}
    if details is not None:
        item["details"] = details
    return item


QUOTA_EXCEEDED = error("QuotaExceeded", "You exceeded your quota for the requested resource.", "")
INTERNAL_FAILURE = error("InternalFailure", "We encountered an internal error. Please try again.")
SERVICE_UNAVAILABLE = error(
    "ServiceUnavailable", "Service temporarily unavailable. Please try again later."
)


class SpApiError(SandboxError):
    """An SP-API error response: `{"errors": [...]}` with Amazon's headers."""

    def __init__(
        self,
        status_code: int,
        errors: list[dict[str, str]],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.errors = errors
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status_code}: {errors}")

    def response(self) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), **self.headers}
        return JSONResponse({"errors": self.errors}, status_code=self.status_code, headers=headers)


def invalid_input(message: str, details: str = "") -> SpApiError:
    return SpApiError(400, [error("InvalidInput", message, details)])


def not_found(message: str) -> SpApiError:
    return SpApiError(404, [error("NotFound", message, "")])


@dataclass
class Call:
    """An admitted SP-API request: who calls which operation, and the headers to answer with."""

    runtime: Runtime
    operation: str
    grant: Grant
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def seller_id(self) -> str:
        return self.grant.subject

    def fail(self, exc: SpApiError) -> SpApiError:
        exc.headers = {**self.headers, **exc.headers}
        return exc

    def json(self, body: Any, status_code: int = 200) -> Response:
        return JSONResponse(body, status_code=status_code, headers=self.headers)

    def empty(self, status_code: int = 200) -> Response:
        return Response(status_code=status_code, headers=self.headers)


UNLIMITED_RATE = 1000.0


def announced_rate(runtime: Runtime, operation: str) -> float:
    """What `x-amzn-RateLimit-Limit` says: the quota in force. With quotas off (scale 0) it
    announces a rate no client will reach, so clients that adopt it stop pacing themselves."""
    rate = OPERATION_RATES[operation].per_second
    scale = runtime.settings.sandbox_rate_scale
    return rate * scale if scale > 0 else UNLIMITED_RATE


def format_rate(per_second: float) -> str:
    return format(per_second, "g")


async def admit(request: Request, runtime: Runtime, operation: str) -> Call:
    """Authenticate, charge the quota and maybe inject a fault; raises the error response."""
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-RateLimit-Limit": format_rate(announced_rate(runtime, operation)),
    }
    token = request.headers.get("x-amz-access-token", "").strip()
    if not token:
        raise SpApiError(
            403, [error("Unauthorized", ACCESS_DENIED, DENIED_DETAILS["missing"])], headers
        )
    grant = await resolve_access_token(
        runtime.redis, runtime.redis_server.key, PROVIDER, token, include_expired=True
    )
    if grant is None:
        raise SpApiError(
            403, [error("Unauthorized", ACCESS_DENIED, DENIED_DETAILS["invalid"])], headers
        )
    if grant.is_expired():
        raise SpApiError(
            403, [error("Unauthorized", ACCESS_DENIED, DENIED_DETAILS["expired"])], headers
        )
    call = Call(runtime, operation, grant, headers)
    await _charge_quota(call)
    fault = await pick_fault(runtime, f"{call.seller_id}:{operation}", API_FAULTS)
    if fault == "429":
        raise call.fail(SpApiError(429, [QUOTA_EXCEEDED]))
    if fault == "500":
        raise call.fail(SpApiError(500, [INTERNAL_FAILURE]))
    if fault == "503":
        raise call.fail(SpApiError(503, [SERVICE_UNAVAILABLE]))
    if fault == "timeout":
        # Past the client's timeout; the request is then served as if nothing happened (a
        # createReport still creates its report), which is what makes retries interesting.
        await asyncio.sleep(runtime.settings.sandbox_fault_hang_seconds)
    return call


async def _charge_quota(call: Call) -> None:
    scale = call.runtime.settings.sandbox_rate_scale
    if scale <= 0:
        return
    plan = OPERATION_RATES[call.operation]
    buckets = TokenBuckets(
        call.runtime.redis, call.runtime.redis_server.key("sandbox", PROVIDER, "quota")
    )
    wait = await buckets.try_take(
        f"{call.seller_id}:{call.operation}", Rate(plan.per_second * scale, plan.burst)
    )
    if wait > 0:
        raise call.fail(SpApiError(429, [QUOTA_EXCEEDED]))


def configured_faults(kinds: str) -> list[str]:
    return [kind for kind in (part.strip() for part in kinds.split(",")) if kind in FAULT_KINDS]


async def pick_fault(runtime: Runtime, scope: str, allowed: frozenset[str]) -> str | None:
    """Which fault, if any, this request of `scope` gets."""
    settings = runtime.settings
    kinds = [kind for kind in configured_faults(settings.sandbox_fault_kinds) if kind in allowed]
    if settings.sandbox_fault_rate <= 0 or not kinds:
        return None
    if settings.sandbox_fault_seed is None:
        draw, pick = random.random(), random.randrange(len(kinds))  # noqa: S311 - not secrets
    else:
        counter = runtime.redis_server.key("sandbox", PROVIDER, "faults", scope)
        number = await runtime.redis.incr(counter)
        await runtime.redis.expire(counter, 86_400)
        digest = hashlib.sha256(f"{settings.sandbox_fault_seed}|{scope}|{number}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        pick = int.from_bytes(digest[8:16], "big") % len(kinds)
    return kinds[pick] if draw < settings.sandbox_fault_rate else None
