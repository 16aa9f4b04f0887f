"""Syncing a seller's Stripe balance transactions, incrementally, into
`stripe_balance_transactions`.

Stripe lists balance transactions newest first and pages with `starting_after` (the last id of
the previous page), which is stable: objects created while we page appear *above* the first
page and never shift the pages below. A sync is one such walk, down to `created[gte]=since`:
- `since` is `AMAZON_BACKFILL_DAYS` ago the first time (the same 18 months as the Amazon data
  the transactions are matched with), then `OVERLAP` before the newest `created` the last
  complete walk saw (`syncedTo`, Stripe's own clock), so a transaction created during a walk —
  above its first page, unseen — is read by the next one, and one that becomes visible late is
  read again;
- each page is upserted by transaction id (`row_key` = `txn_…`) in the same transaction as the
  checkpoint `{"walk": {"since", "after", "top"}}`, so a run that dies resumes at the next page
  with the same arguments, and the overlap re-reads write nothing unless Stripe changed a row
  (a `pending` transaction becoming `available`).

Amounts are Stripe's integers in the currency's minor unit; the currency is stored as its
ISO 4217 code in upper case; Stripe's object is kept whole in `raw`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from opside_hub.core.logging import get_logger
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import StripeBalanceTransaction
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.providers.stripe.client import PAGE_LIMIT, StripeApiError, StripeClient
from opside_hub.providers.stripe.schemas import StripeBalanceTransaction as StripeObject
from opside_hub.runtime import Runtime
from opside_hub.sync.checkpoints import get_checkpoint, save_checkpoint
from opside_hub.sync.pipeline import StepContext
from opside_hub.vault import repository as vault_repository
from opside_hub.vault.exceptions import NotConnected, ReauthorizationRequired

log = get_logger(__name__)

PROVIDER = "stripe"
DATASET = "stripe.balance_transactions"
OVERLAP = timedelta(hours=1)

Progress = Callable[[float], Awaitable[None]]


class StripeAccountDisconnected(ReauthorizationRequired):
    code = "stripe_account_disconnected"
    message = "Stripe refused access to the connected account; connect Stripe again."


@dataclass
class SyncResult:
    rows_read: int = 0
    rows_written: int = 0
    pages: int = 0


async def connected_account(runtime: Runtime, user_id: str) -> str:
    """The `acct_…` the seller connected through Connect OAuth (an active connection only)."""
    async with runtime.sessions() as session:
        row = await vault_repository.get_token(session, user_id, PROVIDER)
        if row is None or not row.account_id:
            raise NotConnected()
        if row.status == "needs_reauth":
            raise ReauthorizationRequired()
        if row.status != "active":
            raise NotConnected()
        return row.account_id


async def sync_stripe(ctx: StepContext) -> dict[str, Any]:
    """The pipeline step `stripe.transactions`."""
    account = await connected_account(ctx.runtime, ctx.user_id)
    client = StripeClient.for_platform(ctx.runtime)
    result = await sync_balance_transactions(ctx.runtime, client, ctx.user_id, account, ctx.report)
    return {"rowsRead": result.rows_read, "rowsWritten": result.rows_written, "pages": result.pages}


async def sync_balance_transactions(
    runtime: Runtime,
    client: StripeClient,
    user_id: str,
    account: str,
    progress: Progress | None = None,
) -> SyncResult:
    async with runtime.sessions() as session:
        cursor = await get_checkpoint(session, user_id, DATASET)
    if cursor.get("account") != account:
        cursor = {"account": account}  # a first sync, or the seller connected another account
    synced_to: int | None = cursor.get("syncedTo")
    walk: dict[str, Any] = cursor.get("walk") or {
        "since": _since(runtime, synced_to),
        "after": None,
        "top": None,
    }
    result = SyncResult()
    log.info(
        "stripe.sync.started", user_id=user_id, since=walk["since"], resumed=bool(walk["after"])
    )
    while True:
        try:
            page = await client.list_balance_transactions(
                account, created_gte=walk["since"], starting_after=walk["after"], limit=PAGE_LIMIT
            )
        except StripeApiError as exc:
            if exc.account_unavailable:
                raise StripeAccountDisconnected() from exc
            raise
        rows = [_row(item, account) for item in page.data]
        if rows and walk["top"] is None:
            walk["top"] = _epoch(rows[0]["created"])
        more = page.has_more and bool(rows)
        if more:
            walk["after"] = rows[-1]["row_key"]
            checkpoint: dict[str, Any] = {"account": account, "syncedTo": synced_to, "walk": walk}
        else:
            seen = [value for value in (synced_to, walk["top"]) if value is not None]
            checkpoint = {"account": account, "syncedTo": max(seen) if seen else None}
        async with transaction(runtime.sessions) as session:
            written = await upsert_rows(session, StripeBalanceTransaction, user_id, rows)
            await save_checkpoint(session, user_id, DATASET, checkpoint)
        result.pages += 1
        result.rows_read += len(rows)
        result.rows_written += written
        if progress is not None and rows:
            await progress(_covered(walk, _epoch(rows[-1]["created"])))
        if not more:
            break
    log.info(
        "stripe.sync.finished",
        user_id=user_id,
        rows_read=result.rows_read,
        rows_written=result.rows_written,
        pages=result.pages,
    )
    return result


def _since(runtime: Runtime, synced_to: int | None) -> int:
    if synced_to is not None:
        return synced_to - int(OVERLAP.total_seconds())
    backfill = timedelta(days=runtime.settings.amazon.backfill_days)
    # From a whole day, like Amazon's reports: first syncs run the same day ask the same span.
    start = (utcnow() - backfill).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp())


def _covered(walk: dict[str, Any], oldest_seen: int) -> float:
    """How much of the walk's time span is behind us (pages go from `top` down to `since`)."""
    top, since = walk["top"], walk["since"]
    if top is None or top <= since:
        return 1.0
    return float(top - oldest_seen) / float(top - since)


def _row(item: dict[str, Any], account: str) -> dict[str, Any]:
    try:
        txn = StripeObject.model_validate(item)
    except ValidationError as exc:
        raise StripeApiError(
            502, error_type="invalid_response", stripe_message=f"balance_transaction: {exc}"
        ) from exc
    source = txn.source.get("id") if isinstance(txn.source, dict) else txn.source
    return {
        "row_key": txn.id,
        "stripe_account_id": account,
        "type": txn.type[:64],
        "status": txn.status[:32] if txn.status else None,
        "amount": txn.amount,
        "fee": txn.fee,
        "net": txn.net,
        "currency": txn.currency.upper(),
        "description": txn.description[:1024] if txn.description else None,
        "reporting_category": txn.reporting_category[:64] if txn.reporting_category else None,
        "source": str(source)[:255] if source else None,
        "created": _time(txn.created),
        "available_on": _time(txn.available_on) if txn.available_on is not None else None,
        "raw": item,
    }


def _time(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def _epoch(value: datetime) -> int:
    return int(value.timestamp())
