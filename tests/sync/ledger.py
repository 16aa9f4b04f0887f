"""What a sync left in the database for one user, comparable across users and runs.

Two users connected to the same sandbox accounts must end up with equal fingerprints: every
synced table by natural key (`row_key`) and the provider's raw object, and the case ledger by
claim id, status and normalized data. Database ids and timestamps are left out. Two tables are
compared by less than their raw object: inventory, a snapshot of "now", by key only; an evidence
document by its file name, type, size and content hash, since its raw part holds Gmail's
attachment id, new at every fetch (as Gmail's are).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonInventory,
    AmazonLedgerEvent,
    AmazonReimbursement,
    EvidenceDocument,
    GmailMessage,
    RefundEngineCase,
    StripeBalanceTransaction,
)
from opside_hub.runtime import Runtime

AMAZON_TABLES: tuple[Any, ...] = (
    AmazonReimbursement,
    AmazonLedgerEvent,
    AmazonFinancialEvent,
    AmazonInventory,
)
ALL_TABLES: tuple[Any, ...] = (
    *AMAZON_TABLES,
    StripeBalanceTransaction,
    GmailMessage,
    EvidenceDocument,
)


def _digest(rows: object) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _content(model: Any) -> tuple[Any, ...]:
    if model is EvidenceDocument:
        return (model.filename, model.mime_type, model.size, model.sha256)
    if model is AmazonInventory:
        # A snapshot as of the request: the sandbox changes each SKU every 1-7 days at its own
        # second, as stock does, so two runs minutes apart may rightly differ in quantities.
        # Its rows are compared by key (none lost, none extra), not by content.
        return ()
    return (model.raw,)


async def fingerprint(
    runtime: Runtime, user_id: str, tables: tuple[Any, ...] = ALL_TABLES
) -> dict[str, Any]:
    """`counts` and `hashes` per table (and `refund_engine_cases`)."""
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    async with runtime.sessions() as session:
        for model in tables:
            rows = (
                await session.execute(
                    select(model.row_key, *_content(model)).where(model.user_id == user_id)
                )
            ).all()
            counts[model.__tablename__] = len(rows)
            hashes[model.__tablename__] = _digest(
                sorted((key, json.dumps(rest, sort_keys=True)) for key, *rest in rows)
            )
        cases = (
            await session.execute(
                select(
                    RefundEngineCase.claim_id,
                    RefundEngineCase.case_status,
                    RefundEngineCase.normalized_data,
                ).where(RefundEngineCase.user_id == user_id)
            )
        ).all()
    counts["refund_engine_cases"] = len(cases)
    hashes["refund_engine_cases"] = _digest(
        sorted(
            (c.claim_id, c.case_status, json.dumps(c.normalized_data, sort_keys=True))
            for c in cases
        )
    )
    return {"counts": counts, "hashes": hashes}


async def duplicates(
    runtime: Runtime, user_id: str, tables: tuple[Any, ...] = ALL_TABLES
) -> dict[str, int]:
    """Rows minus distinct natural keys, per table: what a double write would leave."""
    found: dict[str, int] = {}
    async with runtime.sessions() as session:
        for model, key in [(m, m.row_key) for m in tables] + [
            (RefundEngineCase, RefundEngineCase.claim_id)
        ]:
            rows, distinct = (
                await session.execute(
                    select(func.count(), func.count(func.distinct(key))).where(
                        model.user_id == user_id
                    )
                )
            ).one()
            found[model.__tablename__] = rows - distinct
    return found


async def within_one_clock_hour(seconds: float) -> None:
    """Wait, if need be, until the next `seconds` fit in one clock hour.

    Report and finance windows end on the hour (and the sandbox's events keep coming), so runs
    compared with each other must all run within the same hour to read the same windows.
    """
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)
    if left < seconds:
        await asyncio.sleep(left + 1)
