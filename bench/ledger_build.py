"""Case ledger at scale: build the cases of a seller with N reimbursement rows (default 200k),
then again (nothing changed), then link them to MCDE documents.

The rows are the sandbox seller's (reversals, several SKUs per reimbursement id, five
currencies), parsed by the real row builders and written with the real bulk upsert, plus the
ledger and financial events of the same period.

    uv run python bench/ledger_build.py [rows]                   # SQLite + embedded Redis
    DATABASE_URL=postgresql://127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        uv run python bench/ledger_build.py [rows]               # PostgreSQL + Redis
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import backend, bench_settings
from sqlalchemy import func, select, update

from opside_hub.auth.repository import get_or_create_user
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import (
    AmazonFinancialEvent,
    AmazonLedgerEvent,
    AmazonReimbursement,
    McdeDocument,
    RefundEngineCase,
)
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.ledger.service import build_cases, link_documents
from opside_hub.providers.amazon.parsing import Record, normalize_header
from opside_hub.providers.amazon.rows import (
    LedgerKeys,
    financial_event_rows,
    ledger_row,
    reimbursement_row,
)
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.data import DataSizes, SellerData

USER = "ledger-bench"
WRITE_BATCH = 5000


async def _write(runtime: Runtime, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), WRITE_BATCH):
        async with transaction(runtime.sessions) as session:
            await upsert_rows(session, model, USER, rows[start : start + WRITE_BATCH])


async def _seed(runtime: Runtime, target: int) -> dict[str, int]:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    start = end - timedelta(days=540)
    seller = SellerData(
        "A1BENCHSELLER",
        DataSizes(
            reimbursements=int(target / 1.3),
            ledger_events=target // 2,
            inventory_skus=2000,
            financial_events=target // 10,
        ),
    )
    reimbursements = [
        reimbursement_row(Record(n, fields))
        for n, fields in enumerate(seller.reimbursements(start, end))
    ][:target]
    keys = LedgerKeys()
    ledger = [
        ledger_row(Record(n, {normalize_header(k): v for k, v in fields.items()}), keys)
        for n, fields in enumerate(seller.ledger_events(start, end))
    ]
    adjustments: list[dict[str, Any]] = []
    for event in seller.financial_events(start, end):
        adjustments.extend(financial_event_rows({event.list_name: [event.body]}))
    unique_adjustments = {row["row_key"]: row for row in adjustments}
    async with transaction(runtime.sessions) as session:
        await get_or_create_user(session, USER, None)
    await _write(runtime, AmazonReimbursement, reimbursements)
    await _write(runtime, AmazonLedgerEvent, ledger)
    await _write(runtime, AmazonFinancialEvent, list(unique_adjustments.values()))
    skus = sorted({row["sku"] for row in reimbursements if row["sku"]})
    async with transaction(runtime.sessions) as session:
        for n, sku in enumerate(skus):
            session.add(
                McdeDocument(
                    user_id=USER,
                    document_id=f"doc-{n:05}",
                    sku=sku,
                    unit_cost_amount=100 + n,
                    currency="USD",
                    document_date=(start + timedelta(days=n % 400)).date(),
                    raw={},
                )
            )
    return {
        "reimbursement rows": len(reimbursements),
        "ledger rows": len(ledger),
        "financial rows": len(unique_adjustments),
        "documents": len(skus),
    }


async def _hourly(runtime: Runtime) -> None:
    """As before an hourly sync's build: the rows synced before are old, a thousand are new."""
    async with transaction(runtime.sessions) as session:
        for model in (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent):
            await session.execute(update(model).values(synced_at=utcnow() - timedelta(hours=2)))
    async with transaction(runtime.sessions) as session:
        await upsert_rows(
            session,
            AmazonReimbursement,
            USER,
            [
                reimbursement_row(
                    Record(
                        n,
                        {
                            "approval-date": "2026-01-02T10:00:00+00:00",
                            "reimbursement-id": f"NEW{n}",
                            "sku": f"NEW-SKU-{n % 50}",
                            "reason": "Lost_Warehouse",
                            "currency-unit": "USD",
                            "amount-total": "12.34",
                            "quantity-reimbursed-cash": "1",
                            "quantity-reimbursed-total": "1",
                        },
                    )
                )
                for n in range(1000)
            ],
        )


async def _timed(label: str, call: Any) -> Any:
    started = time.perf_counter()
    result = await call
    print(f"{label:<28} {time.perf_counter() - started:8.2f} s   {result}")
    return result


async def main(rows: int) -> None:
    async with backend() as chosen:
        runtime = await Runtime.start(bench_settings(chosen, f"bench-{uuid.uuid4().hex[:8]}"))
        try:
            print(f"backend: {chosen.label}")
            sizes = await _timed("seed raw rows", _seed(runtime, rows))
            del sizes
            await _timed("build_cases (first)", build_cases(runtime, USER, sync_id=None))
            await _timed("build_cases (re-run)", build_cases(runtime, USER, sync_id=None))
            await _timed("link_documents (first)", link_documents(runtime, USER, sync_id=None))
            await _hourly(runtime)
            await _timed("build_cases (1k new rows)", build_cases(runtime, USER, sync_id=None))
            await _timed("link_documents (re-run)", link_documents(runtime, USER, sync_id=None))
            async with runtime.sessions() as session:
                by_status = (
                    await session.execute(
                        select(RefundEngineCase.case_status, func.count())
                        .where(RefundEngineCase.user_id == USER)
                        .group_by(RefundEngineCase.case_status)
                    )
                ).all()
            print("cases by status:", dict(sorted((s, int(n)) for s, n in by_status)))
        finally:
            await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
