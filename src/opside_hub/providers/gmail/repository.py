"""Reads of the synced Gmail messages for the API (never a call to Gmail)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import BadRequest
from opside_hub.core.pagination import PageParams, cursor_datetime
from opside_hub.db.models import GmailMessage
from opside_hub.db.types import UTCDateTime


@dataclass(frozen=True)
class EmailFilters:
    sender: str | None = None  # a case-insensitive substring of the From header
    has_attachments: bool | None = None
    after: datetime | None = None  # internalDate >=
    before: datetime | None = None  # internalDate <


async def list_emails(
    session: AsyncSession, user_id: str, filters: EmailFilters, page: PageParams
) -> tuple[Sequence[GmailMessage], tuple[Any, ...] | None]:
    """Newest first (Gmail's internalDate), keyset-paginated on (date, row id)."""
    m = GmailMessage
    sort_at = func.coalesce(m.internal_at, m.synced_at)
    query = select(m).where(m.user_id == user_id)
    if filters.sender:
        query = query.where(
            func.lower(m.from_address).contains(filters.sender.lower(), autoescape=True)
        )
    if filters.has_attachments is not None:
        query = query.where(m.has_attachments.is_(filters.has_attachments))
    if filters.after is not None:
        query = query.where(sort_at >= _at(filters.after))
    if filters.before is not None:
        query = query.where(sort_at < _at(filters.before))
    if page.after is not None:
        at, row_id = _cursor(page.after)
        query = query.where(tuple_(sort_at, m.id) < tuple_(_at(at), literal(row_id)))
    query = query.order_by(sort_at.desc(), m.id.desc()).limit(page.limit + 1)
    rows = (await session.execute(query)).scalars().all()
    if len(rows) <= page.limit:
        return rows, None
    last = rows[page.limit - 1]
    return rows[: page.limit], (last.internal_at or last.synced_at, last.id)


def _cursor(after: tuple[Any, ...]) -> tuple[datetime, int]:
    if len(after) != 2 or not isinstance(after[1], int) or isinstance(after[1], bool):
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    at = cursor_datetime(after[0])
    if at is None or at.tzinfo is None:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return at, after[1]


def _at(value: datetime) -> Any:
    return literal(value, type_=UTCDateTime)
