"""The steps of a sync (DESIGN §4), in order. Each returns counts for the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from sqlalchemy import func, select

from opside_hub.core.logging import get_logger
from opside_hub.db.models import RefundEngineCase, SyncEvent, SyncJob
from opside_hub.db.session import transaction
from opside_hub.evidence.client import EvidenceClient
from opside_hub.evidence.exceptions import EvidenceServiceError
from opside_hub.providers.amazon import sync as amazon
from opside_hub.providers.gmail.sync import sync_gmail
from opside_hub.providers.stripe.sync import sync_stripe
from opside_hub.sync.pipeline import Step, StepContext

log = get_logger(__name__)
NOTIFY_ATTEMPTS = 3
EVIDENCE_SYNC_PATH = "/api/v1/evidence/sync-completed"
ROWS_HALF_WAY = 5000  # a report's size is unknown until read: progress approaches 1 as rows come


def _rows_progress(ctx: StepContext) -> Any:
    async def progress(rows: int) -> None:
        await ctx.report(rows / (rows + ROWS_HALF_WAY))

    return progress


def _amazon_dataset(fetch: Any) -> Any:
    async def run(ctx: StepContext) -> dict[str, Any]:
        account, client = await amazon.load_account(
            ctx.runtime, amazon.spapi_client(ctx.runtime), ctx.user_id
        )
        result = await fetch(ctx.runtime, client, account, _rows_progress(ctx))
        return {
            "rowsRead": result.rows_read,
            "rowsWritten": result.rows_written,
            "rowsQuarantined": result.rows_quarantined,
            "throttled": sum(client.stats.throttled.values()),
        }

    return run


async def build_cases(ctx: StepContext) -> dict[str, Any]:
    from opside_hub.ledger.service import build_cases as build

    counts = await build(ctx.runtime, ctx.user_id, sync_id=ctx.sync_id, progress=ctx.cases)
    return {
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "total": counts.total,
    }


async def link_documents(ctx: StepContext) -> dict[str, Any]:
    from opside_hub.ledger.service import link_documents as link

    counts = await link(ctx.runtime, ctx.user_id, sync_id=ctx.sync_id, progress=ctx.cases)
    return {"linked": counts.linked, "relinked": counts.relinked, "unlinked": counts.unlinked}


async def finalize(ctx: StepContext) -> dict[str, Any]:
    """Count the ledger, then tell the evidence service (when configured) — its failure is
    recorded in the audit trail and does not fail the sync."""
    async with transaction(ctx.runtime.sessions) as session:
        total = (
            await session.execute(
                select(func.count())
                .select_from(RefundEngineCase)
                .where(RefundEngineCase.user_id == ctx.user_id)
            )
        ).scalar_one()
        job = await session.get(SyncJob, ctx.sync_id)
        if job is not None:
            job.total_cases = total
            job.processed_cases = total
    notified = await _notify_evidence(ctx, total)
    return {"totalCases": total, "evidenceNotified": notified}


async def _notify_evidence(ctx: StepContext, total_cases: int) -> bool:
    settings = ctx.runtime.settings.evidence
    if not settings.api_url:
        return False
    client = EvidenceClient(ctx.runtime.http, settings)
    payload = {
        "event": "sync_completed",
        "syncId": ctx.sync_id,
        "userId": ctx.user_id,
        "totalCases": total_cases,
    }
    error = ""
    for attempt in range(1, NOTIFY_ATTEMPTS + 1):
        try:
            await client.post_json(EVIDENCE_SYNC_PATH, payload, user_id=ctx.user_id, email=None)
        except (EvidenceServiceError, httpx2.HTTPError) as exc:
            error = type(exc).__name__
            log.warning(
                "evidence.notify_failed", sync_id=ctx.sync_id, attempt=attempt, error_type=error
            )
            await asyncio.sleep(attempt)
            continue
        return True
    async with transaction(ctx.runtime.sessions) as session:
        session.add(
            SyncEvent(
                user_id=ctx.user_id,
                sync_id=ctx.sync_id,
                kind="evidence.notify_failed",
                stage="finalizing",
                message=f"the evidence service was not reached ({error})",
            )
        )
    return False


STEPS: list[Step] = [
    Step(
        "amazon.reimbursements",
        "fetching_reimbursements",
        25,
        "amazon",
        _amazon_dataset(amazon.sync_reimbursements),
    ),
    Step(
        "amazon.ledger",
        "fetching_inventory_ledger",
        15,
        "amazon",
        _amazon_dataset(amazon.sync_ledger),
    ),
    Step(
        "amazon.financial_events",
        "fetching_financial_events",
        10,
        "amazon",
        _amazon_dataset(amazon.sync_financial_events),
    ),
    Step(
        "amazon.inventory",
        "fetching_inventory",
        10,
        "amazon",
        _amazon_dataset(amazon.sync_inventory),
    ),
    Step("ledger.cases", "building_cases", 20, "amazon", build_cases),
    Step("ledger.mcde", "linking_documents", 10, "amazon", link_documents),
    Step("stripe.transactions", "processing_stripe", 5, "stripe", sync_stripe),
    Step("gmail.messages", "scanning_email", 5, "gmail", sync_gmail),
    Step("finalize", "finalizing", 5, None, finalize),
]
