"""All SQL of the case ledger: raw rows in, cases and documents out.

Raw tables are walked in id order a batch at a time and otherwise read through the indexed
`reimbursement_id` or primary key; cases by the `(user_id, claim_id)` unique index. JSON fields
of cases are read with the dialect's JSON operators (`->>` on PostgreSQL, `json_extract` on
SQLite). Writers of one user's ledger take a per-user advisory lock on PostgreSQL and lock the
rows they rewrite, so the build and the linker never lose each other's audit entries (SQLite
serializes writers by itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.exceptions import BadRequest
from opside_hub.core.pagination import PageParams
from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonLedgerEvent,
    AmazonReimbursement,
    McdeDocument,
    RefundEngineCase,
    SyncCheckpoint,
    SyncEvent,
)
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert as upsert
from opside_hub.ledger.linking import Document
from opside_hub.ledger.normalize import (
    LEDGER_ADJUSTMENTS,
    LEDGER_CODES,
    LINKABLE_STATUSES,
    LOSS_CODES,
    WAREHOUSE_REASONS,
    AdjustmentRow,
    LedgerRow,
    ReimbursementRow,
    item_key,
)

ADJUSTMENT_GROUP = "AdjustmentEvent"
IN_CHUNK = 500  # values per IN (...) list: well under every driver's parameter limit

T = TypeVar("T")
r = AmazonReimbursement
f = AmazonFinancialEvent
led = AmazonLedgerEvent
c = RefundEngineCase


def chunks(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- raw rows --------------------------------------------------------------------------------

_REIMBURSEMENT_COLUMNS = (
    r.id,
    r.row_key,
    r.reimbursement_id,
    r.sku,
    r.currency,
    r.fnsku,
    r.asin,
    r.case_id,
    r.amazon_order_id,
    r.reason,
    r.condition,
    r.amount_per_unit,
    r.amount_total,
    r.quantity_cash,
    r.quantity_inventory,
    r.quantity_total,
    r.original_reimbursement_id,
    r.original_reimbursement_type,
    r.approved_at,
    r.synced_at,
)
_ADJUSTMENT_COLUMNS = (
    f.id,
    f.row_key,
    f.currency,
    f.event_type,
    f.posted_at,
    f.sku,
    f.fnsku,
    f.asin,
    f.quantity,
    f.amount,
    f.description,
    f.raw,
    f.synced_at,
)
_LEDGER_COLUMNS = (
    led.id,
    led.row_key,
    led.event_at,
    led.event_type,
    led.reason,
    led.quantity,
    led.sku,
    led.fnsku,
    led.asin,
    led.reference_id,
    led.fulfillment_center,
    led.disposition,
    led.country,
    led.raw,
    led.synced_at,
)


def _owned(session: AsyncSession, column: Any, user_id: str) -> ColumnElement[bool]:
    """`column = user_id`, for queries that must walk another index (the primary key, the
    reimbursement id). Without statistics SQLite prefers the `(user_id, row_key)` index for
    any `user_id = ?` and then scans and sorts all the user's rows, once per batch; `|| ''`
    takes that index out of its choices. PostgreSQL plans by statistics: left as it is."""
    owner: ColumnElement[bool] = (
        column.concat("") == user_id
        if session.get_bind().dialect.name == "sqlite"
        else column == user_id
    )
    return owner


def _since(column: Any, since: datetime | None) -> ColumnElement[bool]:
    return column >= since if since is not None else true()


@dataclass(frozen=True)
class ReimbursementKey:
    """The identifying columns of a reimbursement row: enough to know its claim."""

    id: int
    reimbursement_id: str
    sku: str | None
    original_reimbursement_id: str | None
    synced_at: datetime

    @property
    def case_reimbursement_id(self) -> str:
        return self.original_reimbursement_id or self.reimbursement_id


async def lock_ledger(session: AsyncSession, user_id: str) -> None:
    """Serialize the writers of one user's ledger (the build, the linker) batch by batch, so
    they never deadlock on each other's row locks. PostgreSQL: a transaction-level advisory
    lock; SQLite serializes writers by itself."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"ledger:{user_id}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        await session.execute(select(func.pg_advisory_xact_lock(key)))


MIN_ROWS_FOR_STATISTICS = 1000


async def ensure_statistics(session: AsyncSession, model: Any, rows: int) -> bool:
    """ANALYZE `model`'s table (PostgreSQL) when its statistics know of fewer than half of
    the `rows` we know it holds.

    A backfill writes the raw tables just before the first build, and the build then writes
    the cases: until autovacuum has sampled a table (or where it is off) the planner has no
    column statistics and prices `claim_id IN (...)` as a scan of the whole table, once per
    batch. Halving keeps this to a few ANALYZEs per build. Without the privilege, PostgreSQL
    only warns and skips the table."""
    if session.get_bind().dialect.name != "postgresql" or rows < MIN_ROWS_FOR_STATISTICS:
        return False
    name = model.__tablename__
    known = await session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"), {"name": name}
    )
    reltuples = known.scalar()
    if reltuples is not None and float(reltuples) >= rows / 2:
        return False
    await session.execute(text(f"ANALYZE {name}"))
    return True


async def count_cases(session: AsyncSession, user_id: str) -> int:
    query = select(func.count()).where(c.user_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def reversal_ids(session: AsyncSession, user_id: str) -> dict[str, set[str]]:
    """Original reimbursement id → the ids of the reversals of it."""
    rows = await session.execute(
        select(r.original_reimbursement_id, r.reimbursement_id).where(
            r.user_id == user_id, r.original_reimbursement_id.is_not(None)
        )
    )
    reversals: dict[str, set[str]] = {}
    for original, reversal in rows:
        if original:
            reversals.setdefault(original, set()).add(reversal)
    return reversals


async def adjustment_index(
    session: AsyncSession, user_id: str
) -> dict[tuple[str, str | None], list[int]]:
    """(TransactionNumber, SKU) → ids of the adjustment items that carry them."""
    number = f.raw[("item", "TransactionNumber")].as_string()
    rows = await session.execute(
        select(f.id, number, f.sku).where(
            f.user_id == user_id, f.event_group == ADJUSTMENT_GROUP, number.is_not(None)
        )
    )
    index: dict[tuple[str, str | None], list[int]] = {}
    for row_id, transaction, sku in rows:
        if transaction:
            index.setdefault((str(transaction), sku), []).append(row_id)
    return index


async def count_reimbursements(session: AsyncSession, user_id: str, since: datetime | None) -> int:
    query = select(func.count()).where(r.user_id == user_id, _since(r.synced_at, since))
    return int((await session.execute(query)).scalar_one())


async def count_adjustments(session: AsyncSession, user_id: str, since: datetime | None) -> int:
    query = select(func.count()).where(
        f.user_id == user_id, f.event_group == ADJUSTMENT_GROUP, _since(f.synced_at, since)
    )
    return int((await session.execute(query)).scalar_one())


async def reimbursement_keys_page(
    session: AsyncSession, user_id: str, *, after_id: int, since: datetime | None, limit: int
) -> list[ReimbursementKey]:
    rows = await session.execute(
        select(r.id, r.reimbursement_id, r.sku, r.original_reimbursement_id, r.synced_at)
        .where(_owned(session, r.user_id, user_id), r.id > after_id, _since(r.synced_at, since))
        .order_by(r.id)
        .limit(limit)
    )
    return [ReimbursementKey(*row) for row in rows]


async def reimbursement_keys(
    session: AsyncSession, user_id: str, reimbursement_ids: Iterable[str]
) -> list[ReimbursementKey]:
    keys: list[ReimbursementKey] = []
    for batch in chunks(sorted(set(reimbursement_ids))):
        rows = await session.execute(
            select(r.id, r.reimbursement_id, r.sku, r.original_reimbursement_id, r.synced_at).where(
                r.user_id == user_id, r.reimbursement_id.in_(batch)
            )
        )
        keys.extend(ReimbursementKey(*row) for row in rows)
    return keys


async def reimbursements(
    session: AsyncSession, user_id: str, reimbursement_ids: Iterable[str]
) -> list[ReimbursementRow]:
    """Every row of the given reimbursement ids (the index on reimbursement_id serves it)."""
    result: list[ReimbursementRow] = []
    for batch in chunks(sorted(set(reimbursement_ids))):
        rows = await session.execute(
            select(*_REIMBURSEMENT_COLUMNS, r.raw).where(
                _owned(session, r.user_id, user_id), r.reimbursement_id.in_(batch)
            )
        )
        result.extend(ReimbursementRow(**row._mapping) for row in rows)
    return result


async def adjustments_page(
    session: AsyncSession, user_id: str, *, after_id: int, since: datetime | None, limit: int
) -> list[AdjustmentRow]:
    rows = await session.execute(
        select(*_ADJUSTMENT_COLUMNS)
        .where(
            _owned(session, f.user_id, user_id),
            f.event_group == ADJUSTMENT_GROUP,
            f.id > after_id,
            _since(f.synced_at, since),
        )
        .order_by(f.id)
        .limit(limit)
    )
    return [AdjustmentRow(**row._mapping) for row in rows]


async def adjustments(
    session: AsyncSession, user_id: str, ids: Iterable[int]
) -> list[AdjustmentRow]:
    result: list[AdjustmentRow] = []
    for batch in chunks(sorted(set(ids))):
        rows = await session.execute(
            select(*_ADJUSTMENT_COLUMNS).where(f.user_id == user_id, f.id.in_(batch))
        )
        result.extend(AdjustmentRow(**row._mapping) for row in rows)
    return result


def _ledger_candidates() -> ColumnElement[bool]:
    return and_(led.event_type == LEDGER_ADJUSTMENTS, led.reason.in_(sorted(LEDGER_CODES)))


def _warehouse() -> ColumnElement[bool]:
    reasons = sorted(WAREHOUSE_REASONS)
    return or_(r.reason.in_(reasons), r.original_reimbursement_type.in_(reasons))


async def ledger_item_keys(session: AsyncSession, user_id: str, since: datetime | None) -> set[str]:
    """Items whose losses must be (re)assessed: all items with a loss, or only those whose
    ledger adjustments or warehouse reimbursements changed since `since`."""
    if since is None:
        queries: list[Select[str | None, str | None]] = [
            select(led.fnsku, led.sku)
            .where(
                led.user_id == user_id,
                led.event_type == LEDGER_ADJUSTMENTS,
                led.reason.in_(sorted(LOSS_CODES)),
                led.quantity < 0,
            )
            .distinct()
        ]
    else:
        queries = [
            select(led.fnsku, led.sku)
            .where(led.user_id == user_id, _ledger_candidates(), led.synced_at >= since)
            .distinct(),
            select(r.fnsku, r.sku)
            .where(r.user_id == user_id, _warehouse(), r.synced_at >= since)
            .distinct(),
        ]
    keys: set[str] = set()
    for query in queries:
        for fnsku, sku in await session.execute(query):
            if key := item_key(fnsku, sku):
                keys.add(key)
    return keys


def _items(fnsku: Any, sku: Any, keys: Sequence[str]) -> ColumnElement[bool]:
    fnskus = [k for k in keys if not k.startswith("sku:")]
    skus = [k.removeprefix("sku:") for k in keys if k.startswith("sku:")]
    return or_(fnsku.in_(fnskus), and_(fnsku.is_(None), sku.in_(skus)))


async def ledger_rows(session: AsyncSession, user_id: str, keys: Sequence[str]) -> list[LedgerRow]:
    """The loss and found adjustments of the given items."""
    result: list[LedgerRow] = []
    for batch in chunks(keys):
        rows = await session.execute(
            select(*_LEDGER_COLUMNS).where(
                led.user_id == user_id, _ledger_candidates(), _items(led.fnsku, led.sku, batch)
            )
        )
        result.extend(LedgerRow(**row._mapping) for row in rows)
    return result


async def warehouse_reimbursements(
    session: AsyncSession, user_id: str, keys: Sequence[str]
) -> list[ReimbursementRow]:
    """The warehouse reimbursements (and their reversals) of the given items, without raw."""
    result: list[ReimbursementRow] = []
    for batch in chunks(keys):
        rows = await session.execute(
            select(*_REIMBURSEMENT_COLUMNS).where(
                r.user_id == user_id, _warehouse(), _items(r.fnsku, r.sku, batch)
            )
        )
        result.extend(ReimbursementRow(**row._mapping) for row in rows)
    return result


# -- cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCase:
    id: str
    claim_id: str
    case_status: str
    mcde_doc_id: str | None
    normalized_data: dict[str, Any]
    raw_data: dict[str, Any]
    audit_log: list[dict[str, Any]]


async def cases_by_claim(
    session: AsyncSession, user_id: str, claim_ids: Iterable[str]
) -> dict[str, StoredCase]:
    found: dict[str, StoredCase] = {}
    for batch in chunks(sorted(set(claim_ids))):
        rows = await session.execute(
            select(
                c.id,
                c.claim_id,
                c.case_status,
                c.mcde_doc_id,
                c.normalized_data,
                c.raw_data,
                c.audit_log,
            )
            .where(c.user_id == user_id, c.claim_id.in_(batch))
            .with_for_update()
        )
        for row in rows:
            found[row.claim_id] = StoredCase(*row)
    return found


async def insert_cases(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(RefundEngineCase), rows)


async def update_cases(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key; every dict carries `id` and the same other keys."""
    if rows:
        await session.execute(update(RefundEngineCase), rows)


async def add_events(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    if events:
        await session.execute(insert(SyncEvent), events)


@dataclass(frozen=True)
class LinkTarget:
    id: str
    claim_id: str
    case_status: str
    mcde_doc_id: str | None
    sku: str | None
    asin: str | None
    event_date: date | None


def _text(name: str) -> Any:
    return c.normalized_data[name].as_string()


async def count_linkable(session: AsyncSession, user_id: str) -> int:
    query = select(func.count()).where(
        c.user_id == user_id, c.case_status.in_(sorted(LINKABLE_STATUSES))
    )
    return int((await session.execute(query)).scalar_one())


async def linkable_page(
    session: AsyncSession, user_id: str, *, after_claim: str, limit: int
) -> list[LinkTarget]:
    """In claim id order: the `(user_id, claim_id)` unique index serves the walk."""
    rows = await session.execute(
        select(
            c.id,
            c.claim_id,
            c.case_status,
            c.mcde_doc_id,
            _text("sku"),
            _text("asin"),
            _text("eventDate"),
        )
        .where(
            c.user_id == user_id,
            c.claim_id > after_claim,
            c.case_status.in_(sorted(LINKABLE_STATUSES)),
        )
        .order_by(c.claim_id)
        .limit(limit)
    )
    return [
        LinkTarget(
            id=row[0],
            claim_id=row[1],
            case_status=row[2],
            mcde_doc_id=row[3],
            sku=row[4],
            asin=row[5],
            event_date=_date(row[6]),
        )
        for row in rows
    ]


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class LockedCase:
    id: str
    case_status: str
    mcde_doc_id: str | None
    audit_log: list[dict[str, Any]]


async def lock_cases(
    session: AsyncSession, user_id: str, ids: Iterable[str]
) -> dict[str, LockedCase]:
    found: dict[str, LockedCase] = {}
    for batch in chunks(sorted(set(ids))):
        rows = await session.execute(
            select(c.id, c.case_status, c.mcde_doc_id, c.audit_log)
            .where(_owned(session, c.user_id, user_id), c.id.in_(batch))
            .with_for_update()
        )
        for row in rows:
            found[row.id] = LockedCase(*row)
    return found


# -- documents -------------------------------------------------------------------------------


async def all_documents(session: AsyncSession, user_id: str) -> list[Document]:
    d = McdeDocument
    rows = await session.execute(
        select(
            d.id,
            d.document_id,
            d.sku,
            d.asin,
            d.document_date,
            d.unit_cost_amount,
            d.currency,
            d.supplier,
        ).where(d.user_id == user_id)
    )
    return [Document(*row) for row in rows]


async def documents_by_document_id(
    session: AsyncSession, user_id: str, document_ids: Iterable[str]
) -> dict[str, McdeDocument]:
    found: dict[str, McdeDocument] = {}
    for batch in chunks(sorted(set(document_ids))):
        rows = await session.execute(
            select(McdeDocument)
            .where(McdeDocument.user_id == user_id, McdeDocument.document_id.in_(batch))
            .with_for_update()
        )
        for document in rows.scalars():
            found[document.document_id] = document
    return found


# -- checkpoints -----------------------------------------------------------------------------


async def get_checkpoint(session: AsyncSession, user_id: str, dataset: str) -> dict[str, Any]:
    row = await session.get(SyncCheckpoint, (user_id, dataset))
    return dict(row.cursor) if row else {}


async def save_checkpoint(
    session: AsyncSession, user_id: str, dataset: str, cursor: dict[str, Any]
) -> None:
    statement = upsert(session, SyncCheckpoint).values(
        user_id=user_id, dataset=dataset, cursor=cursor, updated_at=utcnow()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "dataset"],
            set_={"cursor": statement.excluded.cursor, "updated_at": statement.excluded.updated_at},
        )
    )


# -- reads for the API -----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    status: str | None = None
    sku: str | None = None
    asin: str | None = None
    reason: str | None = None
    event_from: str | None = None  # ISO 8601 UTC, compared with normalized eventAt
    event_to: str | None = None
    linked: bool | None = None


def _sort_key() -> Any:
    return func.coalesce(_text("eventAt"), "")


def _case_columns() -> tuple[Any, ...]:
    return (
        c.id,
        c.claim_id,
        c.case_status,
        c.normalized_data,
        c.synced_at,
        c.created_at,
        McdeDocument.document_id.label("document_id"),
        McdeDocument.document_date.label("document_date"),
    )


async def list_cases(
    session: AsyncSession, user_id: str, filters: CaseFilters, page: PageParams
) -> tuple[Sequence[Any], tuple[Any, ...] | None]:
    """Newest event first, then id; keyset on (eventAt, id) so pages never skip or repeat."""
    sort_at = _sort_key()
    query = (
        select(*_case_columns(), sort_at.label("sort_at"))
        .outerjoin(McdeDocument, McdeDocument.id == c.mcde_doc_id)
        .where(c.user_id == user_id)
    )
    if filters.status is not None:
        query = query.where(c.case_status == filters.status)
    for name, value in (("sku", filters.sku), ("asin", filters.asin), ("reason", filters.reason)):
        if value is not None:
            query = query.where(_text(name) == value)
    if filters.event_from is not None:
        query = query.where(_text("eventAt") >= filters.event_from)
    if filters.event_to is not None:
        query = query.where(_text("eventAt") < filters.event_to)
    if filters.linked is not None:
        linked = c.mcde_doc_id.is_not(None)
        query = query.where(linked if filters.linked else c.mcde_doc_id.is_(None))
    if page.after is not None:
        if len(page.after) != 2 or not all(isinstance(v, str) for v in page.after):
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        query = query.where(
            tuple_(sort_at, c.id) < tuple_(literal(page.after[0]), literal(page.after[1]))
        )
    query = query.order_by(sort_at.desc(), c.id.desc()).limit(page.limit + 1)
    rows = (await session.execute(query)).all()
    if len(rows) <= page.limit:
        return rows, None
    last = rows[page.limit - 1]
    return rows[: page.limit], (last.sort_at, last.id)


async def get_case(
    session: AsyncSession, user_id: str, case_id: str
) -> tuple[RefundEngineCase, McdeDocument | None] | None:
    row = (
        await session.execute(
            select(RefundEngineCase, McdeDocument)
            .outerjoin(McdeDocument, McdeDocument.id == RefundEngineCase.mcde_doc_id)
            .where(
                _owned(session, RefundEngineCase.user_id, user_id), RefundEngineCase.id == case_id
            )
        )
    ).first()
    if row is None:
        return None
    return row[0], row[1]
