"""Amazon data → rows of our raw tables, each with its natural key (`row_key`).

Natural keys:
- reimbursements: reimbursement-id | sku | original-reimbursement-id | original-reimbursement-type
  (one reimbursement id spans SKUs; a reversal row shares the id of what it reverses);
- ledger events: Amazon gives no id; the key hashes the event's fields plus its occurrence among
  identical rows of the same day, so a re-fetched day yields the same keys;
- financial events: likewise a hash of the event's identifying fields and occurrence;
- inventory: marketplace | seller SKU.
Money is integer minor units with its currency; timestamps are UTC.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from opside_hub.providers.amazon.parsing import (
    Record,
    RowError,
    parse_int,
    parse_money,
    parse_timestamp,
    stable_key,
)

Row = dict[str, Any]


def reimbursement_row(record: Record) -> Row:
    reimbursement_id = record.get("reimbursement-id")
    if not reimbursement_id:
        raise RowError("reimbursement-id is empty", line=record.line)
    currency = record.get("currency-unit").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise RowError(f"currency-unit is not a currency code: {currency[:10]!r}", line=record.line)
    try:
        row: Row = {
            "reimbursement_id": reimbursement_id,
            "case_id": record.get("case-id") or None,
            "amazon_order_id": record.get("amazon-order-id") or None,
            "reason": record.get("reason") or None,
            "sku": record.get("sku") or None,
            "fnsku": record.get("fnsku") or None,
            "asin": record.get("asin") or None,
            "condition": record.get("condition") or None,
            "currency": currency,
            "amount_per_unit": parse_money(
                record.get("amount-per-unit"), currency, field="amount-per-unit"
            ),
            "amount_total": parse_money(record.get("amount-total"), currency, field="amount-total"),
            "quantity_cash": parse_int(
                record.get("quantity-reimbursed-cash"), field="quantity-reimbursed-cash"
            ),
            "quantity_inventory": parse_int(
                record.get("quantity-reimbursed-inventory"), field="quantity-reimbursed-inventory"
            ),
            "quantity_total": parse_int(
                record.get("quantity-reimbursed-total"), field="quantity-reimbursed-total"
            ),
            "original_reimbursement_id": record.get("original-reimbursement-id") or None,
            "original_reimbursement_type": record.get("original-reimbursement-type") or None,
            "approved_at": parse_timestamp(record.get("approval-date"), field="approval-date"),
        }
    except RowError as exc:
        raise RowError(exc.reason, line=record.line) from exc
    row["row_key"] = "|".join(
        (
            reimbursement_id,
            record.get("sku"),
            record.get("original-reimbursement-id"),
            record.get("original-reimbursement-type"),
        )
    )
    row["raw"] = dict(record.fields)
    return row


class LedgerKeys:
    """Numbers identical ledger rows of one day so each keeps its own key."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, identity: tuple[object, ...]) -> str:
        base = stable_key(*identity)
        self._seen[base] += 1
        return f"{base}:{self._seen[base]}"


def ledger_row(record: Record, keys: LedgerKeys) -> Row:
    try:
        event_at = parse_timestamp(record.get("date-and-time") or record.get("date"), field="date")
        quantity = parse_int(record.get("quantity"), field="quantity")
    except RowError as exc:
        raise RowError(exc.reason, line=record.line) from exc
    if event_at is None:
        raise RowError("date is empty", line=record.line)
    sku = record.get("msku") or record.get("sku")
    identity = (
        event_at.date().isoformat(),
        record.get("date-and-time"),
        record.get("fnsku"),
        sku,
        record.get("event-type"),
        record.get("reference-id"),
        quantity,
        record.get("fulfillment-center"),
        record.get("disposition"),
        record.get("reason"),
        record.get("country"),
    )
    return {
        "row_key": keys.key(identity),
        "event_at": event_at,
        "event_type": record.get("event-type") or None,
        "reference_id": record.get("reference-id") or None,
        "sku": sku or None,
        "fnsku": record.get("fnsku") or None,
        "asin": record.get("asin") or None,
        "quantity": quantity,
        "fulfillment_center": record.get("fulfillment-center") or None,
        "disposition": record.get("disposition") or None,
        "reason": record.get("reason") or None,
        "country": record.get("country") or None,
        "raw": dict(record.fields),
    }


def inventory_row(summary: Mapping[str, Any], marketplace_id: str) -> Row:
    details = summary.get("inventoryDetails") or {}
    sku = str(summary.get("sellerSku") or "")
    return {
        "row_key": f"{marketplace_id}|{sku}",
        "marketplace_id": marketplace_id,
        "sku": sku,
        "fnsku": summary.get("fnSku"),
        "asin": summary.get("asin"),
        "condition": summary.get("condition"),
        "product_name": (summary.get("productName") or "")[:512] or None,
        "total_quantity": int(summary.get("totalQuantity") or 0),
        "fulfillable_quantity": int(details.get("fulfillableQuantity") or 0),
        "last_updated_at": parse_timestamp(summary.get("lastUpdatedTime"), field="lastUpdatedTime"),
        "raw": dict(summary),
    }


def _money(value: Mapping[str, Any] | None) -> tuple[int, str]:
    """Finances v0 `Currency` {CurrencyCode, CurrencyAmount} → (minor units, code)."""
    if not value:
        return 0, "USD"
    currency = str(value.get("CurrencyCode") or "USD").upper()
    amount = value.get("CurrencyAmount")
    return parse_money(
        None if amount is None else str(amount), currency, field="CurrencyAmount"
    ), currency


def financial_event_rows(events: Mapping[str, Any]) -> list[Row]:
    """The adjustment and fee events of one listFinancialEvents page, as rows.

    Adjustments (reimbursements, reversals, clawbacks) become one row per adjusted item; service
    fees one row per fee. Identical events on one page are numbered so none collapses.
    """
    rows: list[Row] = []
    keys = LedgerKeys()
    for event in events.get("AdjustmentEventList") or []:
        rows.extend(_adjustment_rows(event, keys))
    for event in events.get("ServiceFeeEventList") or []:
        rows.extend(_service_fee_rows(event, keys))
    return rows


def _adjustment_rows(event: Mapping[str, Any], keys: LedgerKeys) -> Iterable[Row]:
    posted_at = parse_timestamp(event.get("PostedDate"), field="PostedDate")
    adjustment_type = str(event.get("AdjustmentType") or "")
    items = event.get("AdjustmentItemList") or [None]
    for item in items:
        amount, currency = _money((item or {}).get("TotalAmount") or event.get("AdjustmentAmount"))
        identity = (
            "adjustment",
            event.get("PostedDate"),
            adjustment_type,
            (item or {}).get("SellerSKU"),
            (item or {}).get("FnSKU"),
            (item or {}).get("Quantity"),
            amount,
            currency,
        )
        yield {
            "row_key": keys.key(identity),
            "event_group": "AdjustmentEvent",
            "event_type": adjustment_type or None,
            "posted_at": posted_at,
            "amazon_order_id": None,
            "sku": (item or {}).get("SellerSKU"),
            "asin": (item or {}).get("ASIN"),
            "fnsku": (item or {}).get("FnSKU"),
            "quantity": int((item or {}).get("Quantity") or 0),
            "amount": amount,
            "currency": currency,
            "description": ((item or {}).get("ProductDescription") or "")[:512] or None,
            "raw": {"event": dict(event), "item": item},
        }


def _service_fee_rows(event: Mapping[str, Any], keys: LedgerKeys) -> Iterable[Row]:
    for fee in event.get("FeeList") or []:
        amount, currency = _money(fee.get("FeeAmount"))
        identity = (
            "service-fee",
            event.get("AmazonOrderId"),
            event.get("FeeReason"),
            event.get("SellerSKU"),
            fee.get("FeeType"),
            amount,
            currency,
            event.get("FeeDescription"),
        )
        yield {
            "row_key": keys.key(identity),
            "event_group": "ServiceFeeEvent",
            "event_type": fee.get("FeeType"),
            "posted_at": None,
            "amazon_order_id": event.get("AmazonOrderId"),
            "sku": event.get("SellerSKU"),
            "asin": event.get("ASIN"),
            "fnsku": event.get("FnSKU"),
            "quantity": 0,
            "amount": amount,
            "currency": currency,
            "description": (event.get("FeeDescription") or event.get("FeeReason") or "")[:512]
            or None,
            "raw": {"event": dict(event), "fee": dict(fee)},
        }
