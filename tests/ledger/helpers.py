"""Raw Amazon rows as the sync writes them (`db.bulk.upsert_rows`), and ledger shortcuts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from opside_hub.auth.repository import get_or_create_user
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonLedgerEvent,
    AmazonReimbursement,
    McdeDocument,
    RefundEngineCase,
    SyncEvent,
    SyncJob,
)
from opside_hub.db.session import transaction
from opside_hub.runtime import Runtime

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
Row = dict[str, Any]


def reimbursement(
    reimbursement_id: str,
    sku: str | None,
    *,
    amount_total: int = 1000,
    amount_per_unit: int = 500,
    cash: int = 2,
    inventory: int = 0,
    currency: str = "USD",
    reason: str = "Lost_Warehouse",
    approved_at: datetime = T0,
    original: str | None = None,
    original_type: str | None = None,
    fnsku: str | None = None,
    asin: str | None = None,
) -> Row:
    """A GET_FBA_REIMBURSEMENTS_DATA row; `raw` carries every field, as the report does."""
    fnsku = fnsku or (f"X00{sku}" if sku else None)
    asin = asin or (f"B00{sku}" if sku else None)
    raw = {
        "approval-date": approved_at.isoformat(),
        "reimbursement-id": reimbursement_id,
        "reason": reason,
        "sku": sku or "",
        "fnsku": fnsku or "",
        "asin": asin or "",
        "product-name": f"Product {sku}",
        "currency-unit": currency,
        "amount-per-unit": str(amount_per_unit),
        "amount-total": str(amount_total),
        "quantity-reimbursed-cash": str(cash),
        "quantity-reimbursed-inventory": str(inventory),
        "quantity-reimbursed-total": str(cash + inventory),
        "original-reimbursement-id": original or "",
        "original-reimbursement-type": original_type or "",
    }
    return {
        "row_key": "|".join((reimbursement_id, sku or "", original or "", original_type or "")),
        "reimbursement_id": reimbursement_id,
        "reason": reason,
        "sku": sku,
        "fnsku": fnsku,
        "asin": asin,
        "condition": "NewItem",
        "currency": currency,
        "amount_per_unit": amount_per_unit,
        "amount_total": amount_total,
        "quantity_cash": cash,
        "quantity_inventory": inventory,
        "quantity_total": cash + inventory,
        "original_reimbursement_id": original,
        "original_reimbursement_type": original_type,
        "approved_at": approved_at,
        "raw": raw,
    }


def reversal(
    reimbursement_id: str,
    original: str,
    sku: str,
    *,
    amount_total: int = -1000,
    cash: int = -2,
    currency: str = "USD",
    approved_at: datetime = T0,
    original_type: str = "Lost_Warehouse",
) -> Row:
    return reimbursement(
        reimbursement_id,
        sku,
        amount_total=amount_total,
        cash=cash,
        currency=currency,
        reason="Reimbursement_Reversal",
        approved_at=approved_at,
        original=original,
        original_type=original_type,
    )


def adjustment(
    row_key: str,
    *,
    transaction_number: str | None,
    sku: str | None,
    amount: int = 1000,
    currency: str = "USD",
    quantity: int = 2,
    posted_at: datetime = T0,
    adjustment_type: str = "WAREHOUSE_LOST",
) -> Row:
    item = {
        "Quantity": str(quantity),
        "TotalAmount": {"CurrencyCode": currency, "CurrencyAmount": amount / 100},
        "SellerSKU": sku,
        "TransactionNumber": transaction_number,
    }
    return {
        "row_key": row_key,
        "event_group": "AdjustmentEvent",
        "event_type": adjustment_type,
        "posted_at": posted_at,
        "sku": sku,
        "fnsku": f"X00{sku}" if sku else None,
        "asin": f"B00{sku}" if sku else None,
        "quantity": quantity,
        "amount": amount,
        "currency": currency,
        "description": f"Product {sku}",
        "raw": {
            "event": {"AdjustmentType": adjustment_type, "PostedDate": posted_at.isoformat()},
            "item": item,
        },
    }


def ledger_event(
    row_key: str,
    *,
    sku: str,
    reason: str,
    quantity: int,
    event_at: datetime = T0,
    event_type: str = "Adjustments",
    fnsku: str | None = None,
) -> Row:
    fnsku = fnsku or f"X00{sku}"
    raw = {
        "date": event_at.date().isoformat(),
        "fnsku": fnsku,
        "asin": f"B00{sku}",
        "msku": sku,
        "title": f"Product {sku}",
        "event-type": event_type,
        "reference-id": f"ref-{row_key}",
        "quantity": str(quantity),
        "fulfillment-center": "PHX7",
        "disposition": "SELLABLE",
        "reason": reason,
        "country": "US",
        "reconciled-quantity": "0",
        "unreconciled-quantity": "1",
        "date-and-time": event_at.isoformat(),
    }
    return {
        "row_key": row_key,
        "event_at": event_at,
        "event_type": event_type,
        "reference_id": f"ref-{row_key}",
        "sku": sku,
        "fnsku": fnsku,
        "asin": f"B00{sku}",
        "quantity": quantity,
        "fulfillment_center": "PHX7",
        "disposition": "SELLABLE",
        "reason": reason,
        "country": "US",
        "raw": raw,
    }


async def seed(
    runtime: Runtime,
    user_id: str,
    *,
    reimbursements: Sequence[Row] = (),
    adjustments: Sequence[Row] = (),
    ledger: Sequence[Row] = (),
) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        await upsert_rows(session, AmazonReimbursement, user_id, list(reimbursements))
        await upsert_rows(session, AmazonFinancialEvent, user_id, list(adjustments))
        await upsert_rows(session, AmazonLedgerEvent, user_id, list(ledger))


async def add_document(
    runtime: Runtime,
    user_id: str,
    document_id: str,
    *,
    document_date: Any,
    sku: str | None = None,
    asin: str | None = None,
    amount: int = 250,
) -> None:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        session.add(
            McdeDocument(
                user_id=user_id,
                document_id=document_id,
                sku=sku,
                asin=asin,
                unit_cost_amount=amount,
                currency="USD",
                document_date=document_date,
                raw={},
            )
        )


async def create_sync(runtime: Runtime, user_id: str) -> str:
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, user_id, None)
        job = SyncJob(user_id=user_id, status="running", providers=["amazon"])
        session.add(job)
        await session.flush()
        return job.id


async def cases_of(runtime: Runtime, user_id: str) -> dict[str, RefundEngineCase]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(RefundEngineCase).where(RefundEngineCase.user_id == user_id)
        )
        return {case.claim_id: case for case in rows.scalars()}


async def events_of(runtime: Runtime, user_id: str) -> list[SyncEvent]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(SyncEvent).where(SyncEvent.user_id == user_id).order_by(SyncEvent.id)
        )
        return list(rows.scalars())


async def count_cases(runtime: Runtime, user_id: str) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).where(RefundEngineCase.user_id == user_id)
        return int((await session.execute(query)).scalar_one())
