"""Reading the case ledger for the API (`/api/cases`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import Unprocessable
from opside_hub.core.pagination import PageParams, encode_cursor
from opside_hub.core.schemas import Money, Page, PageMeta
from opside_hub.db.models import McdeDocument as McdeDocumentRow
from opside_hub.db.models import User
from opside_hub.ledger import repository
from opside_hub.ledger.exceptions import CaseNotFound
from opside_hub.ledger.schemas import AuditEntry, Case, CaseDetail, CaseFields, McdeDocument

MONEY_FIELDS = ("amountTotal", "amountPerUnit", "reversedAmount", "netAmount", "settledAmount")


def event_bound(value: str | None, name: str) -> str | None:
    """`from`/`to`: a date (midnight UTC) or an ISO 8601 timestamp with an offset, as the UTC
    ISO string the cases store (`eventAt`), so that comparing strings compares instants."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > 6 and text[-6] == " " and text[-3] == ":":
        text = f"{text[:-6]}+{text[-5:]}"  # an unencoded "+01:00" arrives as " 01:00"
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Unprocessable(
            f"{name}: give a date (2025-01-31) or a timestamp with an offset "
            "(2025-01-31T00:00:00Z)",
            details=[
                {
                    "field": f"query.{name}",
                    "message": "a date or a timestamp with an offset",
                    "type": "datetime_parsing" if moment is None else "timezone_required",
                }
            ],
        )
    return moment.astimezone(UTC).isoformat()


def _money(value: Any, currency: Any) -> dict[str, Any] | None:
    if isinstance(value, int) and isinstance(currency, str) and currency:
        return {"amount": value, "currency": currency}
    return None


def case_fields(normalized: Mapping[str, Any]) -> CaseFields:
    """Stored normalized fields (minor units + one currency) → the API's typed fields."""
    data = dict(normalized)
    currency = normalized.get("currency")
    for name in MONEY_FIELDS:
        data[name] = _money(normalized.get(name), currency)
    for name in ("reversals", "settlements"):
        items = normalized.get(name)
        if isinstance(items, list):
            data[name] = [
                {**item, "amount": _money(item.get("amount"), item.get("currency") or currency)}
                for item in items
            ]
    return CaseFields.model_validate(data)


def _linked_after_event(document_date: date | None, normalized: Mapping[str, Any]) -> bool | None:
    if document_date is None:
        return None
    event_date = normalized.get("eventDate")
    return bool(event_date) and document_date.isoformat() > str(event_date)


async def cases_page(
    session: AsyncSession, user: User, filters: repository.CaseFilters, page: PageParams
) -> Page[Case]:
    rows, after = await repository.list_cases(session, user.id, filters, page)
    items = [
        Case(
            id=row.id,
            claim_id=row.claim_id,
            case_status=row.case_status,
            mcde_doc_id=row.document_id,
            linked_after_event=_linked_after_event(row.document_date, row.normalized_data),
            normalized=case_fields(row.normalized_data),
            synced_at=row.synced_at,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return Page(data=items, meta=PageMeta(next_cursor=encode_cursor(*after) if after else None))


def document_out(document: McdeDocumentRow) -> McdeDocument:
    return McdeDocument(
        document_id=document.document_id,
        sku=document.sku,
        asin=document.asin,
        unit_manufacturing_cost=Money(amount=document.unit_cost_amount, currency=document.currency),
        supplier=document.supplier,
        document_date=document.document_date,
        source=document.source,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )


async def case_detail(session: AsyncSession, user: User, case_id: str) -> CaseDetail:
    """One of the user's cases; another user's id is simply not found (never 403)."""
    found = await repository.get_case(session, user.id, case_id)
    if found is None:
        raise CaseNotFound()
    case, document = found
    return CaseDetail(
        id=case.id,
        claim_id=case.claim_id,
        case_status=case.case_status,
        mcde_doc_id=document.document_id if document else None,
        linked_after_event=_linked_after_event(
            document.document_date if document else None, case.normalized_data
        ),
        normalized=case_fields(case.normalized_data),
        synced_at=case.synced_at,
        created_at=case.created_at,
        mcde_document=document_out(document) if document else None,
        audit_log=[AuditEntry.model_validate(entry) for entry in case.audit_log],
        raw_data=case.raw_data,
    )
