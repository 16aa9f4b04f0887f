"""Fetching a seller's Amazon data, incrementally, into the raw tables.

Four datasets, each with its checkpoint in `sync_checkpoints`:
- `amazon.reimbursements` (GET_FBA_REIMBURSEMENTS_DATA) and `amazon.ledger`
  (GET_LEDGER_DETAIL_VIEW_DATA): report windows of at most `REPORT_WINDOW`; the first sync
  backfills `AMAZON_BACKFILL_DAYS`, later ones start `REPORT_OVERLAP` before the last synced
  instant (Amazon adds late rows to past days) and day-aligned, so a day is always re-read whole;
- `amazon.financial_events` (Finances v0 listFinancialEvents): windows of at most 180 days,
  ending `FINANCE_LAG` before now (Amazon requires PostedBefore more than two minutes in the
  past); the NextToken of the page being read is saved with the page's rows, so a restart
  continues mid-window with the same arguments;
- `amazon.inventory` (FBA Inventory getInventorySummaries, details=true): all summaries the first
  time, then those changed since the last sync.
Every write is an idempotent upsert: overlaps and re-runs write only rows that changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from opside_hub.core.logging import get_logger
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
)
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.providers.amazon.client import SpApiClient, summarize_marketplaces
from opside_hub.providers.amazon.reports import ReportWindow, RowBuilder, run_report
from opside_hub.providers.amazon.rows import (
    LedgerKeys,
    financial_event_rows,
    inventory_row,
    ledger_row,
    reimbursement_row,
)
from opside_hub.runtime import Runtime
from opside_hub.sync.checkpoints import get_checkpoint, save_checkpoint
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.exceptions import NotConnected

log = get_logger(__name__)

REIMBURSEMENTS_REPORT = "GET_FBA_REIMBURSEMENTS_DATA"
LEDGER_REPORT = "GET_LEDGER_DETAIL_VIEW_DATA"
REPORT_WINDOW = timedelta(days=180)
REPORT_OVERLAP = timedelta(days=3)
FINANCE_WINDOW = timedelta(days=180)
FINANCE_OVERLAP = timedelta(days=2)
FINANCE_LAG = timedelta(minutes=3)
FINANCE_PAGE_SIZE = 100
INVENTORY_OVERLAP = timedelta(hours=1)

Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class AmazonAccount:
    user_id: str
    selling_partner_id: str
    marketplace_ids: tuple[str, ...]


@dataclass
class DatasetResult:
    dataset: str
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    details: dict[str, Any] = field(default_factory=dict)


async def load_account(
    runtime: Runtime, client_factory: Callable[[str, str], SpApiClient], user_id: str
) -> tuple[AmazonAccount, SpApiClient]:
    """The seller's Amazon identity and marketplaces (asked of Amazon if the connect flow could
    not), with a client bound to them."""
    async with runtime.sessions() as session:
        row = await vault_repository.get_token(session, user_id, "amazon")
        if row is None or not row.account_id:
            raise NotConnected()
        selling_partner_id, details = row.account_id, dict(row.details or {})
    client = client_factory(user_id, selling_partner_id)
    marketplaces = details.get("marketplaces")
    if not marketplaces:
        marketplaces = summarize_marketplaces(await client.get_marketplace_participations())
        async with transaction(runtime.sessions) as session:
            row = await vault_repository.get_token(session, user_id, "amazon")
            if row is not None:
                row.details = {**(row.details or {}), "marketplaces": marketplaces}
    ids = tuple(m["id"] for m in marketplaces if m.get("participating") and m.get("id"))
    return (
        AmazonAccount(
            user_id, selling_partner_id, ids or (runtime.settings.amazon.marketplace_id,)
        ),
        client,
    )


def spapi_client(runtime: Runtime) -> Callable[[str, str], SpApiClient]:
    return lambda user_id, seller: SpApiClient(runtime, user_id=user_id, selling_partner_id=seller)


def report_windows(
    start: datetime, end: datetime, size: timedelta
) -> list[tuple[datetime, datetime]]:
    windows = []
    while start < end:
        windows.append((start, min(end, start + size)))
        start = windows[-1][1]
    return windows


def _day_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _hour_floor(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


async def sync_report_dataset(
    runtime: Runtime,
    client: SpApiClient,
    account: AmazonAccount,
    *,
    dataset: str,
    report_type: str,
    model: Any,
    row_builder: Callable[[], RowBuilder],
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DatasetResult:
    now = now or utcnow()
    async with runtime.sessions() as session:
        cursor = await get_checkpoint(session, account.user_id, dataset)
    synced_through = _parse(cursor.get("syncedThrough"))
    start = _day_floor(
        synced_through - REPORT_OVERLAP
        if synced_through
        else now - timedelta(days=runtime.settings.amazon.backfill_days)
    )
    end = _hour_floor(now)
    result = DatasetResult(dataset)
    for window_start, window_end in report_windows(start, end, REPORT_WINDOW):
        report = await run_report(
            runtime,
            client,
            account.user_id,
            ReportWindow(report_type, window_start, window_end, account.marketplace_ids),
            model,
            row_builder,
            progress=progress,
        )
        result.rows_read += report.rows_read
        result.rows_written += report.rows_written
        result.rows_quarantined += report.rows_quarantined
        async with transaction(runtime.sessions) as session:
            await save_checkpoint(
                session, account.user_id, dataset, {"syncedThrough": window_end.isoformat()}
            )
    log.info(
        "amazon.sync.dataset",
        dataset=dataset,
        user_id=account.user_id,
        rows_read=result.rows_read,
        rows_written=result.rows_written,
        quarantined=result.rows_quarantined,
    )
    return result


async def sync_reimbursements(
    runtime: Runtime, client: SpApiClient, account: AmazonAccount, progress: Progress | None = None
) -> DatasetResult:
    return await sync_report_dataset(
        runtime,
        client,
        account,
        dataset="amazon.reimbursements",
        report_type=REIMBURSEMENTS_REPORT,
        model=AmazonReimbursement,
        row_builder=lambda: reimbursement_row,
        progress=progress,
    )


async def sync_ledger(
    runtime: Runtime, client: SpApiClient, account: AmazonAccount, progress: Progress | None = None
) -> DatasetResult:
    # Fresh occurrence numbering for every pass over a document.
    return await sync_report_dataset(
        runtime,
        client,
        account,
        dataset="amazon.ledger",
        report_type=LEDGER_REPORT,
        model=AmazonLedgerEvent,
        row_builder=lambda: partial(ledger_row, keys=LedgerKeys()),
        progress=progress,
    )


async def sync_financial_events(
    runtime: Runtime,
    client: SpApiClient,
    account: AmazonAccount,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DatasetResult:
    dataset = "amazon.financial_events"
    now = now or utcnow()
    result = DatasetResult(dataset)
    async with runtime.sessions() as session:
        cursor = await get_checkpoint(session, account.user_id, dataset)
    posted_before = _parse(cursor.get("postedBefore"))
    # Hour-aligned (and more than two minutes back, as Amazon requires): runs within one hour
    # ask the same windows, so a re-run reads exactly what the last one read.
    end = _hour_floor(now - FINANCE_LAG)
    pending = cursor.get("window") or {}
    if pending:  # finish the window a previous run was reading, with its exact arguments
        pending_start, pending_end = _parse(pending["after"]), _parse(pending["before"])
        assert pending_start is not None
        assert pending_end is not None
        windows = [(pending_start, pending_end), *report_windows(pending_end, end, FINANCE_WINDOW)]
    else:
        start = (
            posted_before - FINANCE_OVERLAP
            if posted_before
            else _hour_floor(now - timedelta(days=runtime.settings.amazon.backfill_days))
        )
        windows = report_windows(start, end, FINANCE_WINDOW)
    next_token: str | None = pending.get("nextToken")
    for window_start, window_end in windows:
        while True:
            page = await client.list_financial_events(
                window_start, window_end, next_token, FINANCE_PAGE_SIZE
            )
            rows = financial_event_rows(page.FinancialEvents)
            next_token = page.NextToken or None
            # The page's rows and the cursor to the next page commit together.
            done_through = window_end if not next_token else posted_before
            window = (
                {
                    "after": window_start.isoformat(),
                    "before": window_end.isoformat(),
                    "nextToken": next_token,
                }
                if next_token
                else None
            )
            async with transaction(runtime.sessions) as session:
                result.rows_written += await upsert_rows(
                    session, AmazonFinancialEvent, account.user_id, rows
                )
                await save_checkpoint(
                    session,
                    account.user_id,
                    dataset,
                    {
                        "postedBefore": done_through.isoformat() if done_through else None,
                        "window": window,
                    },
                )
            result.rows_read += len(rows)
            if progress:
                await progress(result.rows_read)
            if not next_token:
                break
        posted_before = window_end
    return result


async def sync_inventory(
    runtime: Runtime,
    client: SpApiClient,
    account: AmazonAccount,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DatasetResult:
    dataset = "amazon.inventory"
    now = now or utcnow()
    result = DatasetResult(dataset)
    async with runtime.sessions() as session:
        cursor = await get_checkpoint(session, account.user_id, dataset)
    changed_since = cursor.get("changedSince")
    for marketplace_id in account.marketplace_ids:
        next_token: str | None = None
        while True:
            response = await client.get_inventory_summaries(
                marketplace_id, changed_since=changed_since, next_token=next_token
            )
            summaries = response.payload.inventorySummaries if response.payload else []
            rows = [
                inventory_row(summary, marketplace_id)
                for summary in summaries
                if summary.get("sellerSku")
            ]
            async with transaction(runtime.sessions) as session:
                result.rows_written += await upsert_rows(
                    session, AmazonInventory, account.user_id, rows
                )
            result.rows_read += len(rows)
            if progress:
                await progress(result.rows_read)
            next_token = response.pagination.nextToken if response.pagination else None
            if not next_token:
                break
    async with transaction(runtime.sessions) as session:
        await save_checkpoint(
            session,
            account.user_id,
            dataset,
            {"changedSince": (now - INVENTORY_OVERLAP).isoformat()},
        )
    return result


async def sync_amazon(
    runtime: Runtime, user_id: str, progress: Progress | None = None
) -> list[DatasetResult]:
    """All four datasets for one seller, in order (the pipeline calls them as separate steps)."""
    account, client = await load_account(runtime, spapi_client(runtime), user_id)
    return [
        await sync_reimbursements(runtime, client, account, progress),
        await sync_ledger(runtime, client, account, progress),
        await sync_financial_events(runtime, client, account, progress),
        await sync_inventory(runtime, client, account, progress),
    ]
