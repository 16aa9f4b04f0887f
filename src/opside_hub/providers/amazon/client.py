"""Selling Partner API client: quota-governed, token-fresh, retrying what deserves a retry.

Every call names its SP-API operation. Before sending, it reserves a token from the bucket of
(selling partner, operation) with the rate and burst of Amazon's models — buckets live in Redis,
so all workers of a seller share them — and waits its turn. Then:
- `x-amz-access-token` comes from the vault; a 401/403 for an expired or invalid token refreshes
  it once (single-flight) and retries;
- 429 QuotaExceeded drains the bucket, backs off with jitter and retries (counted);
- 5xx and transport errors retry with exponential backoff;
- other 4xx raise `SpApiError` carrying Amazon's `errors` list;
- `x-amzn-RateLimit-Limit` on a response replaces the model's rate for that bucket.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
from pydantic import SecretStr

from opside_hub.core.exceptions import ProviderError
from opside_hub.core.logging import get_logger
from opside_hub.core.token_bucket import Rate, TokenBuckets
from opside_hub.observability.metrics import observe_provider_call
from opside_hub.providers.amazon.schemas import (
    CreateReportResponse,
    GetInventorySummariesResponse,
    GetMarketplaceParticipationsResponse,
    GetReportsResponse,
    ListFinancialEventsPayload,
    ListFinancialEventsResponse,
    MarketplaceParticipation,
    Report,
    ReportDocument,
)
from opside_hub.runtime import Runtime

log = get_logger(__name__)

# Rates (requests/second) and bursts from the operations' models in shared/specs/amazon.
OPERATION_RATES: dict[str, Rate] = {
    "createReport": Rate(0.0167, 15),
    "getReport": Rate(2.0, 15),
    "getReports": Rate(0.0222, 10),
    "getReportDocument": Rate(0.0167, 15),
    "listFinancialEvents": Rate(0.5, 30),
    "getInventorySummaries": Rate(2.0, 2),
    "getMarketplaceParticipations": Rate(0.016, 15),
}
RATE_SAFETY = 0.97
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0


class SpApiError(ProviderError):
    """SP-API answered with an error; `details` carries Amazon's `errors` list."""

    code = "amazon_error"
    message = "Amazon SP-API returned an error."

    def __init__(self, operation: str, status: int, errors: list[dict[str, Any]]) -> None:
        self.operation = operation
        self.status = status
        self.errors = errors
        first = errors[0] if errors else {}
        summary = f"{first.get('code', '')} {first.get('message', '')}".strip()
        super().__init__(
            f"{operation} answered {status}: {summary}",
            details={"operation": operation, "status": status, "errors": errors},
        )


@dataclass
class CallStats:
    """What the client did, for logs, metrics and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)


class SpApiClient:
    def __init__(
        self,
        runtime: Runtime,
        *,
        user_id: str,
        selling_partner_id: str,
        rates: Mapping[str, Rate] | None = None,
    ) -> None:
        self.runtime = runtime
        self.user_id = user_id
        self.selling_partner_id = selling_partner_id
        self.base_url = runtime.settings.endpoints().amazon_spapi_base_url
        self.rates = dict(rates or OPERATION_RATES)
        self.buckets = TokenBuckets(runtime.redis, runtime.redis_server.key("spapi", "quota"))
        self.stats = CallStats()

    def _bucket(self, operation: str) -> str:
        return f"{self.selling_partner_id}:{operation}"

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        response = await self.send(operation, method, path, params=params, json=json)
        return _json(response)

    async def send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx2.Response:
        from opside_hub.vault.service import get_access_token  # vault → providers: import late

        model = self.rates[operation]
        # A little under the quota: requests reach Amazon with jitter (the first ones also wait
        # for a token and a connection), and two sent exactly one interval apart can arrive
        # closer than that. One token of the burst and a few percent of the rate absorb it.
        rate = Rate(model.per_second * RATE_SAFETY, max(1, model.burst - 1))
        rejected: SecretStr | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if (wait := await self.buckets.reserve(self._bucket(operation), rate)) > 0:
                await asyncio.sleep(wait)
            token = await get_access_token(self.runtime, self.user_id, "amazon", rejected=rejected)
            self.stats.calls[operation] += 1
            try:
                response = await observe_provider_call(
                    "amazon",
                    operation,
                    self.runtime.http.request(
                        method,
                        f"{self.base_url}{path}",
                        params=_query(params),
                        json=json,
                        headers={
                            "x-amz-access-token": token.get_secret_value(),
                            "Accept": "application/json",
                        },
                    ),
                )
            except httpx2.TransportError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise SpApiError(operation, 503, [{"code": type(exc).__name__}]) from exc
                await self._backoff(operation, attempt, reason=type(exc).__name__)
                continue
            await self._adopt_announced_rate(operation, response)
            if response.status_code == 429:
                self.stats.throttled[operation] += 1
                await self.buckets.drain(self._bucket(operation))
                if attempt == MAX_ATTEMPTS:
                    break
                await self._backoff(operation, attempt, reason="QuotaExceeded")
                continue
            if (
                response.status_code in (401, 403)
                and rejected is None
                and _token_rejected(response)
            ):
                rejected = token  # refresh once through the vault, then try again
                continue
            if response.status_code >= 500 and attempt < MAX_ATTEMPTS:
                await self._backoff(operation, attempt, reason=f"HTTP {response.status_code}")
                continue
            if response.is_error:
                raise SpApiError(operation, response.status_code, _errors(response))
            return response
        raise SpApiError(
            operation, 429, [{"code": "QuotaExceeded", "message": "retries exhausted"}]
        )

    async def _adopt_announced_rate(self, operation: str, response: httpx2.Response) -> None:
        announced = response.headers.get("x-amzn-RateLimit-Limit")
        if not announced:
            return
        try:
            per_second = float(announced)
        except ValueError:
            return
        if per_second > 0 and abs(per_second - self.rates[operation].per_second) > 1e-9:
            self.rates[operation] = Rate(per_second, self.rates[operation].burst)
            await self.buckets.adopt_rate(self._bucket(operation), per_second * RATE_SAFETY)

    async def _backoff(self, operation: str, attempt: int, *, reason: str) -> None:
        self.stats.retried[operation] += 1
        delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        delay *= 0.5 + random.random()  # noqa: S311 - jitter, not cryptography
        log.warning(
            "amazon.spapi.retry",
            operation=operation,
            attempt=attempt,
            reason=reason,
            delay_s=round(delay, 2),
        )
        await asyncio.sleep(delay)

    # Operations (typed by Amazon's models) ------------------------------------------------

    async def create_report(
        self, report_type: str, start: datetime, end: datetime, marketplace_ids: Sequence[str]
    ) -> str:
        body = await self.call(
            "createReport",
            "POST",
            f"{REPORTS}/reports",
            json={
                "reportType": report_type,
                "dataStartTime": iso(start),
                "dataEndTime": iso(end),
                "marketplaceIds": list(marketplace_ids),
            },
        )
        return CreateReportResponse.model_validate(body).reportId

    async def get_reports(
        self, report_types: Sequence[str], created_since: datetime, marketplace_ids: Sequence[str]
    ) -> GetReportsResponse:
        body = await self.call(
            "getReports",
            "GET",
            f"{REPORTS}/reports",
            params={
                "reportTypes": list(report_types),
                "createdSince": iso(created_since),
                "marketplaceIds": list(marketplace_ids),
                "pageSize": 100,
            },
        )
        return GetReportsResponse.model_validate(body)

    async def get_report(self, report_id: str) -> Report:
        body = await self.call("getReport", "GET", f"{REPORTS}/reports/{report_id}")
        return Report.model_validate(body)

    async def get_report_document(self, document_id: str) -> ReportDocument:
        body = await self.call("getReportDocument", "GET", f"{REPORTS}/documents/{document_id}")
        return ReportDocument.model_validate(body)

    async def list_financial_events(
        self,
        posted_after: datetime,
        posted_before: datetime,
        next_token: str | None,
        page_size: int = 100,
    ) -> ListFinancialEventsPayload:
        body = await self.call(
            "listFinancialEvents",
            "GET",
            "/finances/v0/financialEvents",
            params={
                "PostedAfter": iso(posted_after),
                "PostedBefore": iso(posted_before),
                "MaxResultsPerPage": page_size,
                "NextToken": next_token,
            },
        )
        return (
            ListFinancialEventsResponse.model_validate(body).payload or ListFinancialEventsPayload()
        )

    async def get_inventory_summaries(
        self, marketplace_id: str, *, changed_since: str | None, next_token: str | None
    ) -> GetInventorySummariesResponse:
        body = await self.call(
            "getInventorySummaries",
            "GET",
            "/fba/inventory/v1/summaries",
            params={
                "details": True,
                "granularityType": "Marketplace",
                "granularityId": marketplace_id,
                "marketplaceIds": [marketplace_id],
                "startDateTime": changed_since,
                "nextToken": next_token,
            },
        )
        return GetInventorySummariesResponse.model_validate(body)

    async def get_marketplace_participations(self) -> list[MarketplaceParticipation]:
        body = await self.call(
            "getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations"
        )
        return GetMarketplaceParticipationsResponse.model_validate(body).payload


REPORTS = "/reports/2021-06-30"


def iso(value: datetime) -> str:
    """SP-API's ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """SP-API takes arrays as comma-separated values (collectionFormat csv)."""
    if params is None:
        return None
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            query[key] = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            query[key] = "true" if value else "false"
        else:
            query[key] = str(value)
    return query


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _errors(response: httpx2.Response) -> list[dict[str, Any]]:
    errors = _json(response).get("errors")
    return errors if isinstance(errors, list) else []


def _token_rejected(response: httpx2.Response) -> bool:
    """401, or a 403 whose error says the access token is invalid or expired."""
    if response.status_code == 401:
        return True
    for error in _errors(response):
        # Amazon says why in `details`: 403 Unauthorized "Access to requested resource is
        # denied." with "The access token you provided has expired." (or "... is revoked,
        # malformed or invalid.").
        text = " ".join(
            str(error.get(name) or "") for name in ("code", "message", "details")
        ).lower()
        if "token" in text and ("expired" in text or "invalid" in text):
            return True
        if error.get("code") == "Unauthorized" and "access token" in text:
            return True
    return False


async def get_marketplace_participations(
    http: httpx2.AsyncClient, base_url: str, access_token: SecretStr
) -> list[MarketplaceParticipation]:
    """getMarketplaceParticipations with a token in hand (the connect flow, before the
    connection is stored). One call per connect, far inside the operation's burst. A dropped
    or timed-out call is an SpApiError (503) like any other failure: the connect flow then keeps
    the grant and reads the marketplaces at the first sync, instead of answering 500."""
    try:
        response = await observe_provider_call(
            "amazon",
            "getMarketplaceParticipations",
            http.get(
                f"{base_url}/sellers/v1/marketplaceParticipations",
                headers={
                    "x-amz-access-token": access_token.get_secret_value(),
                    "Accept": "application/json",
                },
            ),
        )
    except httpx2.TransportError as exc:
        raise SpApiError(
            "getMarketplaceParticipations", 503, [{"code": type(exc).__name__}]
        ) from exc
    if response.is_error:
        raise SpApiError("getMarketplaceParticipations", response.status_code, _errors(response))
    return GetMarketplaceParticipationsResponse.model_validate(_json(response)).payload


def summarize_marketplaces(participations: list[MarketplaceParticipation]) -> list[dict[str, Any]]:
    """The non-secret marketplace facts we keep on the connection."""
    return [
        {
            "id": item.marketplace.id,
            "countryCode": item.marketplace.countryCode,
            "name": item.marketplace.name,
            "currency": item.marketplace.defaultCurrencyCode,
            "participating": item.participation.isParticipating,
        }
        for item in participations
    ]
