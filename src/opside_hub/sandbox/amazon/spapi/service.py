"""Request parsing and paging of the sandbox SP-API, in the models' terms.

Paging tokens are opaque to clients and stateless here: base64url JSON of where the next page
starts and of the arguments that produced it, with a checksum so a damaged or invented token is
a clean 400. Their rules are the models':
- getReports: `nextToken` must come alone ("Specifying nextToken with any other parameters will
  cause the request to fail");
- listFinancialEvents: `NextToken` comes with "the same arguments as the call that produced the
  token"; pages may be empty ("this operation can return empty pages"), and are, now and then;
- getInventorySummaries: pages of 50, `nextToken` expires 30 seconds after it was created, and
  goes with the same `startDateTime` ("use both startDateTime and nextToken").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from opside_hub.sandbox.amazon.data import SellerData, iso_z, stable_fraction
from opside_hub.sandbox.amazon.spapi.guard import invalid_input

INVENTORY_PAGE_SIZE = 50
INVENTORY_TOKEN_TTL = timedelta(seconds=30)
INVENTORY_HISTORY = timedelta(days=548)  # startDateTime: "no earlier than 18 months prior"
FINANCES_MIN_LAG = timedelta(minutes=2)
FINANCES_MAX_SPAN = timedelta(days=180)
EMPTY_PAGE_SHARE = 0.15
_CHECKSUM_LABEL = "opside-sandbox-spapi"
FINANCIAL_EVENT_LISTS = ("AdjustmentEventList", "ServiceFeeEventList")


# -- parameters ------------------------------------------------------------------------------


def csv_list(params: QueryParams, name: str) -> list[str]:
    """An array parameter (collectionFormat csv); repeated names are accepted too."""
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid_input(
            f"Invalid {name}: {value[:64]}", "Expected an ISO 8601 date-time."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def optional_time(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    return parse_time(value, name) if value else None


def integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_input(f"Invalid {name}: {raw[:32]}") from None
    if not low <= value <= high:
        raise invalid_input(f"{name} must be between {low} and {high}.")
    return value


# -- paging tokens ---------------------------------------------------------------------------


def encode_token(state: Mapping[str, Any]) -> str:
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True)
    check = hashlib.sha256(f"{_CHECKSUM_LABEL}|{payload}".encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{check}{payload}".encode()).decode().rstrip("=")


def decode_token(token: str, name: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        check, payload = raw[:16], raw[16:]
        if hashlib.sha256(f"{_CHECKSUM_LABEL}|{payload}".encode()).hexdigest()[:16] != check:
            raise ValueError("checksum")
        state = json.loads(payload)
        if not isinstance(state, dict):
            raise ValueError("shape")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise invalid_input(f"Invalid {name}.", f"The {name} is not one this API issued.") from None
    return state


# -- Finances v0: listFinancialEvents --------------------------------------------------------


def list_financial_events(data: SellerData, params: QueryParams, now: datetime) -> dict[str, Any]:
    page_size = integer(params, "MaxResultsPerPage", 100, 1, 100)
    latest = now - FINANCES_MIN_LAG
    after = optional_time(params, "PostedAfter")
    before = optional_time(params, "PostedBefore")
    if before is not None and after is None:
        raise invalid_input(
            "PostedAfter is required when PostedBefore is specified.",
        )
    if after is None:
        raise invalid_input("PostedAfter is required.")  # no order or group id to go by
    if after >= latest:
        raise invalid_input("Date range is invalid: PostedAfter must be more than 2 minutes ago.")
    if before is None:
        before = latest
    elif before > latest:
        raise invalid_input(
            "Date range is invalid: PostedBefore must be more than 2 minutes before the time of "
            "request."
        )
    if before <= after:
        raise invalid_input("Date range is invalid: PostedBefore must be later than PostedAfter.")
    arguments = {"a": iso_z(after), "b": iso_z(before), "m": page_size}
    offset, empty_served = 0, False
    if token := params.get("NextToken"):
        state = decode_token(token, "NextToken")
        if {name: state.get(name) for name in arguments} != arguments:
            raise invalid_input(
                "Invalid NextToken.",
                "Call with the same arguments as the call that produced the NextToken.",
            )
        offset, empty_served = int(state["o"]), bool(state.get("e"))
    events: dict[str, list[dict[str, Any]]] = {name: [] for name in FINANCIAL_EVENT_LISTS}
    # "If PostedAfter and PostedBefore are more than 180 days apart, the response is empty."
    indices = (
        range(0)
        if before - after > FINANCES_MAX_SPAN
        else data.financial_event_indices(after, before)
    )
    page = indices[offset : offset + page_size]
    payload: dict[str, Any] = {"FinancialEvents": events}
    if (
        page
        and not empty_served
        and empty_page_first(data.seller_id, after, before, page_size, offset)
    ):
        payload["NextToken"] = encode_token({**arguments, "o": offset, "e": True})
        return {"payload": payload}
    for k in page:
        event = data.financial_event(k)
        events[event.list_name].append(event.body)
    if offset + page_size < len(indices):
        payload["NextToken"] = encode_token({**arguments, "o": offset + page_size})
    return {"payload": payload}


def empty_page_first(
    seller_id: str, after: datetime, before: datetime, page_size: int, offset: int
) -> bool:
    """Whether the page at `offset` of this window is preceded by an empty page (with a
    NextToken to the real one): about `EMPTY_PAGE_SHARE` of pages, fixed by their arguments."""
    arguments = (iso_z(after), iso_z(before), page_size, offset)
    return stable_fraction(seller_id, "empty-page", *arguments) < EMPTY_PAGE_SHARE


# -- FBA Inventory: getInventorySummaries ----------------------------------------------------


def inventory_summaries(data: SellerData, params: QueryParams, now: datetime) -> dict[str, Any]:
    granularity_type = params.get("granularityType", "")
    granularity_id = params.get("granularityId", "")
    marketplace_ids = csv_list(params, "marketplaceIds")
    if not granularity_type:
        raise invalid_input("Missing required parameter: granularityType.")
    if granularity_type != "Marketplace":
        raise invalid_input(f"Invalid granularityType: {granularity_type[:32]}")
    if not granularity_id:
        raise invalid_input("Missing required parameter: granularityId.")
    if not marketplace_ids:
        raise invalid_input("Missing required parameter: marketplaceIds.")
    if len(marketplace_ids) > 1:
        raise invalid_input("marketplaceIds accepts one marketplace.")
    own = {marketplace.id for marketplace in data.marketplaces()}
    for marketplace_id in {granularity_id, *marketplace_ids}:
        if marketplace_id not in own:
            raise invalid_input(f"Invalid marketplace id: {marketplace_id[:32]}")
    details = params.get("details", "false").lower() == "true"
    start = optional_time(params, "startDateTime")
    if start is not None and start < now - INVENTORY_HISTORY:
        raise invalid_input("startDateTime must be no earlier than 18 months ago.")
    skus = csv_list(params, "sellerSkus")
    if len(skus) > 50:
        raise invalid_input("sellerSkus accepts at most 50 SKUs.")
    if not skus and (single := params.get("sellerSku")):
        skus = [single]
    arguments = {
        "g": granularity_id,
        "s": iso_z(start) if start else None,
        "k": None if start else sorted(skus) or None,
    }
    offset = 0
    if token := params.get("nextToken"):
        state = decode_token(token, "nextToken")
        if now.timestamp() > float(state["t"]) + INVENTORY_TOKEN_TTL.total_seconds():
            raise invalid_input("The nextToken has expired.", "Request the first page again.")
        if {name: state.get(name) for name in arguments} != arguments:
            raise invalid_input(
                "Invalid nextToken.", "Call with the parameters that produced the nextToken."
            )
        offset = int(state["o"])
    if start is None and not skus:
        # The whole catalog: compute just this page (a big seller has tens of thousands).
        page, total = data.inventory_page(
            granularity_id, now, details=details, offset=offset, limit=INVENTORY_PAGE_SIZE
        )
    else:
        summaries = data.inventory(granularity_id, now, details=details)
        if start is not None:
            # Changes after startDateTime; sellerSkus and sellerSku are then ignored.
            summaries = [s for s in summaries if s["lastUpdatedTime"] > iso_z(start)]
        else:
            wanted = set(skus)
            summaries = [s for s in summaries if s["sellerSku"] in wanted]
        page, total = summaries[offset : offset + INVENTORY_PAGE_SIZE], len(summaries)
    body: dict[str, Any] = {
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": granularity_id},
            "inventorySummaries": page,
        }
    }
    if offset + INVENTORY_PAGE_SIZE < total:
        body["pagination"] = {
            "nextToken": encode_token(
                {**arguments, "o": offset + INVENTORY_PAGE_SIZE, "t": now.timestamp()}
            )
        }
    return body
