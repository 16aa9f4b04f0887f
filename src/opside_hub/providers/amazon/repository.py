"""Reads of the synced Amazon data for the API (never a call to Amazon per request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import BadRequest
from opside_hub.core.pagination import PageParams, cursor_datetime
from opside_hub.db.models import AmazonFinancialEvent, AmazonInventory, AmazonReimbursement
from opside_hub.db.types import UTCDateTime

ADJUSTMENT = "AdjustmentEvent"


@dataclass(frozen=True)
class ClaimFilters:
    source: str | None = None
    status: str | None = None
    sku: str | None = None
    asin: str | None = None
    reason: str | None = None
    approved_from: datetime | None = None
    approved_to: datetime | None = None


def _reimbursements(user_id: str) -> Select[*tuple[Any, ...]]:
    r = AmazonReimbursement
    return select(
        literal("reimbursement").label("source"),
        r.id.label("id"),
        r.row_key.label("row_key"),
        r.reimbursement_id.label("reimbursement_id"),
        r.case_id.label("case_id"),
        r.amazon_order_id.label("amazon_order_id"),
        r.original_reimbursement_id.label("original_reimbursement_id"),
        r.sku.label("sku"),
        r.fnsku.label("fnsku"),
        r.asin.label("asin"),
        r.reason.label("reason"),
        r.condition.label("condition"),
        r.quantity_cash.label("quantity_cash"),
        r.quantity_inventory.label("quantity_inventory"),
        r.amount_per_unit.label("amount_per_unit"),
        r.amount_total.label("amount"),
        r.currency.label("currency"),
        r.approved_at.label("approved_at"),
        func.coalesce(r.approved_at, r.synced_at).label("sort_at"),
        case(
            (r.original_reimbursement_id.is_not(None), "reversal"),
            (r.amount_total < 0, "clawback"),
            else_="reimbursed",
        ).label("status"),
    ).where(r.user_id == user_id)


def _adjustments(user_id: str) -> Select[*tuple[Any, ...]]:
    f = AmazonFinancialEvent
    return select(
        literal("adjustment").label("source"),
        f.id,
        f.row_key,
        literal(None).label("reimbursement_id"),
        literal(None).label("case_id"),
        f.amazon_order_id,
        literal(None).label("original_reimbursement_id"),
        f.sku,
        f.fnsku,
        f.asin,
        f.event_type.label("reason"),
        literal(None).label("condition"),
        literal(0).label("quantity_cash"),
        f.quantity.label("quantity_inventory"),
        literal(0).label("amount_per_unit"),
        f.amount,
        f.currency,
        f.posted_at.label("approved_at"),
        func.coalesce(f.posted_at, f.synced_at).label("sort_at"),
        case((f.amount < 0, "clawback"), else_="reimbursed").label("status"),
    ).where(f.user_id == user_id, f.event_group == ADJUSTMENT)


async def list_claims(
    session: AsyncSession, user_id: str, filters: ClaimFilters, page: PageParams
) -> tuple[Sequence[Row[Any]], tuple[Any, ...] | None]:
    parts = []
    if filters.source in (None, "reimbursement"):
        parts.append(_reimbursements(user_id))
    if filters.source in (None, "adjustment"):
        parts.append(_adjustments(user_id))
    claims = union_all(*parts).subquery("claims") if len(parts) > 1 else parts[0].subquery("claims")
    c = claims.c
    query = select(claims)
    for column, value in (
        (c.status, filters.status),
        (c.sku, filters.sku),
        (c.asin, filters.asin),
        (c.reason, filters.reason),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.approved_from is not None:
        query = query.where(c.sort_at >= _at(filters.approved_from))
    if filters.approved_to is not None:
        query = query.where(c.sort_at < _at(filters.approved_to))
    if page.after is not None:
        after_at, after_source, after_id = _claim_cursor(page.after)
        query = query.where(
            tuple_(c.sort_at, c.source, c.id)
            < tuple_(_at(after_at), literal(after_source), literal(after_id))
        )
    query = query.order_by(c.sort_at.desc(), c.source.desc(), c.id.desc()).limit(page.limit + 1)
    rows = (await session.execute(query)).all()
    return _page(rows, page.limit, lambda row: (row.sort_at, row.source, row.id))


def _claim_cursor(after: tuple[Any, ...]) -> tuple[datetime, str, int]:
    if len(after) != 3:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    at = cursor_datetime(after[0])
    if at is None or not isinstance(after[2], int):
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return at, str(after[1]), after[2]


def _at(value: datetime) -> Any:
    return literal(value, type_=UTCDateTime)


def _page(
    rows: Sequence[Row[Any]], limit: int, key: Any
) -> tuple[Sequence[Row[Any]], tuple[Any, ...] | None]:
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], key(rows[limit - 1])


async def list_inventory(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    sku: str | None,
    asin: str | None,
    marketplace_id: str | None,
) -> tuple[Sequence[AmazonInventory], tuple[Any, ...] | None]:
    i = AmazonInventory
    query = select(i).where(i.user_id == user_id)
    for column, value in ((i.sku, sku), (i.asin, asin), (i.marketplace_id, marketplace_id)):
        if value is not None:
            query = query.where(column == value)
    if page.after is not None:
        if len(page.after) != 2:
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        query = query.where(
            tuple_(i.row_key, i.id) > tuple_(literal(str(page.after[0])), literal(page.after[1]))
        )
    query = query.order_by(i.row_key, i.id).limit(page.limit + 1)
    rows = (await session.execute(query)).scalars().all()
    if len(rows) <= page.limit:
        return rows, None
    return rows[: page.limit], (rows[page.limit - 1].row_key, rows[page.limit - 1].id)


async def list_fees(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    fee_type: str | None,
    sku: str | None,
    posted_from: datetime | None,
    posted_to: datetime | None,
) -> tuple[Sequence[AmazonFinancialEvent], tuple[Any, ...] | None]:
    f = AmazonFinancialEvent
    sort_at = func.coalesce(f.posted_at, f.synced_at)
    query = select(f, sort_at.label("sort_at")).where(
        f.user_id == user_id, f.event_group != ADJUSTMENT
    )
    if fee_type is not None:
        query = query.where(f.event_type == fee_type)
    if sku is not None:
        query = query.where(f.sku == sku)
    if posted_from is not None:
        query = query.where(sort_at >= _at(posted_from))
    if posted_to is not None:
        query = query.where(sort_at < _at(posted_to))
    if page.after is not None:
        at = cursor_datetime(page.after[0]) if len(page.after) == 2 else None
        if at is None or not isinstance(page.after[1], int):
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        query = query.where(or_(sort_at < _at(at), and_(sort_at == _at(at), f.id < page.after[1])))
    query = query.order_by(sort_at.desc(), f.id.desc()).limit(page.limit + 1)
    rows = (await session.execute(query)).all()
    events = [row[0] for row in rows]
    if len(events) <= page.limit:
        return events, None
    last = rows[page.limit - 1]
    return events[: page.limit], (last.sort_at, last[0].id)
