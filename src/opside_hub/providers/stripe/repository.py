"""Every SQL statement of the Stripe domain: synced transactions, Express accounts, the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import BadRequest
from opside_hub.core.pagination import PageParams, cursor_datetime
from opside_hub.db.base import new_id
from opside_hub.db.models import StripeAccount, StripeBalanceTransaction, StripeEvent, Token
from opside_hub.db.types import UTCDateTime, utcnow
from opside_hub.db.upsert import insert

PROVIDER = "stripe"

# Balance transactions ------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionFilters:
    type: str | None = None
    currency: str | None = None  # ISO 4217, upper case (as stored)
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive


async def list_transactions(
    session: AsyncSession, user_id: str, filters: TransactionFilters, page: PageParams
) -> tuple[Sequence[StripeBalanceTransaction], tuple[Any, ...] | None]:
    """Newest first; the cursor is (created, id) of the last row served."""
    t = StripeBalanceTransaction
    query = select(t).where(t.user_id == user_id)
    if filters.type is not None:
        query = query.where(t.type == filters.type)
    if filters.currency is not None:
        query = query.where(t.currency == filters.currency)
    if filters.created_from is not None:
        query = query.where(t.created >= _at(filters.created_from))
    if filters.created_to is not None:
        query = query.where(t.created < _at(filters.created_to))
    if page.after is not None:
        at = cursor_datetime(page.after[0]) if len(page.after) == 2 else None
        if at is None or not isinstance(page.after[1], int):
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        query = query.where(
            or_(t.created < _at(at), and_(t.created == _at(at), t.id < page.after[1]))
        )
    query = query.order_by(t.created.desc(), t.id.desc()).limit(page.limit + 1)
    rows = (await session.execute(query)).scalars().all()
    if len(rows) <= page.limit:
        return rows, None
    last = rows[page.limit - 1]
    return rows[: page.limit], (last.created, last.id)


async def get_transaction(
    session: AsyncSession, user_id: str, transaction_id: str
) -> StripeBalanceTransaction | None:
    t = StripeBalanceTransaction
    result = await session.execute(
        select(t).where(t.user_id == user_id, t.row_key == transaction_id)
    )
    return result.scalar_one_or_none()


def _at(value: datetime) -> Any:
    return literal(value, type_=UTCDateTime)


# Connections and Express accounts ------------------------------------------------------------


async def get_express_account(session: AsyncSession, user_id: str) -> StripeAccount | None:
    result = await session.execute(select(StripeAccount).where(StripeAccount.user_id == user_id))
    return result.scalar_one_or_none()


async def add_express_account(session: AsyncSession, **values: Any) -> bool:
    """Insert the user's account unless they have one already (UNIQUE(user_id) decides a race
    between two jobs); True when this call inserted it."""
    now = utcnow()
    statement = insert(session, StripeAccount).values(
        id=new_id(), created_at=now, updated_at=now, **values
    )
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["user_id"]).returning(StripeAccount.id)
    )
    return result.scalar_one_or_none() is not None


async def update_express_account(
    session: AsyncSession, stripe_account_id: str, values: dict[str, Any]
) -> int:
    result = await session.execute(
        update(StripeAccount)
        .where(StripeAccount.stripe_account_id == stripe_account_id)
        .values(**values, updated_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def connections_of_account(session: AsyncSession, stripe_account_id: str) -> Sequence[Token]:
    """The users whose Stripe connection (OAuth) is this account, whatever its status."""
    result = await session.execute(
        select(Token).where(Token.provider == PROVIDER, Token.account_id == stripe_account_id)
    )
    return result.scalars().all()


# The webhook inbox ---------------------------------------------------------------------------


async def add_event(
    session: AsyncSession,
    *,
    event_id: str,
    type: str,
    account: str | None,
    livemode: bool,
    payload: dict[str, Any],
) -> str | None:
    """Store an event once: the inbox id, or None when this event id is already stored."""
    statement = insert(session, StripeEvent).values(
        id=new_id(),
        event_id=event_id,
        type=type,
        account=account,
        livemode=livemode,
        payload=payload,
        status="received",
        attempts=0,
        received_at=utcnow(),
    )
    result = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["event_id"]).returning(StripeEvent.id)
    )
    inbox_id: str | None = result.scalar_one_or_none()
    return inbox_id


async def get_event(session: AsyncSession, inbox_id: str) -> StripeEvent | None:
    return await session.get(StripeEvent, inbox_id)


async def unprocessed_events(
    session: AsyncSession, *, received_before: datetime, max_attempts: int, limit: int
) -> Sequence[tuple[str, int]]:
    result = await session.execute(
        select(StripeEvent.id, StripeEvent.attempts)
        .where(
            StripeEvent.status.in_(("received", "failed")),
            StripeEvent.received_at < received_before,
            StripeEvent.attempts < max_attempts,
        )
        .order_by(StripeEvent.received_at)
        .limit(limit)
    )
    return [(row.id, row.attempts) for row in result]
