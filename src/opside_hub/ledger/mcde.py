"""Registering the MCDE service's manufacturing-cost documents (idempotent by document id).

Linking is not done in the request: a document may concern any number of the seller's cases
(up to hundreds of thousands), so the route defers `ledger.link_documents` after its commit and
answers at once. The job relinks all the user's cases — decisions depend on every document of a
SKU, not only the new one — and does nothing when a complete pass already used exactly the
current documents, so a burst of registrations costs one pass, not one per request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.logging import get_logger
from opside_hub.core.queue import defer_job
from opside_hub.db.models import McdeDocument, SyncEvent
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert as upsert
from opside_hub.ledger import repository
from opside_hub.ledger.schemas import (
    DocumentResult,
    McdeDocumentBatch,
    McdeDocumentCreate,
    Registration,
)
from opside_hub.ledger.service import LINK_DOCUMENTS_JOB

log = get_logger(__name__)
MAX_AUDITED_IDS = 100


def _values(document: McdeDocumentCreate) -> dict[str, Any]:
    return {
        "sku": document.sku,
        "asin": document.asin,
        "unit_cost_amount": document.unit_manufacturing_cost.amount,
        "currency": document.unit_manufacturing_cost.currency,
        "supplier": document.supplier,
        "document_date": document.document_date,
        "source": document.source,
        "raw": document.model_dump(mode="json", by_alias=True),
    }


async def register_documents(
    session: AsyncSession, user_id: str, batch: McdeDocumentBatch
) -> Registration:
    existing = await repository.documents_by_document_id(
        session, user_id, (d.document_id for d in batch.documents)
    )
    results: list[DocumentResult] = []
    new: list[dict[str, Any]] = []
    for document in batch.documents:
        values = _values(document)
        stored = existing.get(document.document_id)
        if stored is None:
            new.append({"user_id": user_id, "document_id": document.document_id, **values})
            results.append(DocumentResult(document_id=document.document_id, status="created"))
        elif any(getattr(stored, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(stored, name, value)
            results.append(DocumentResult(document_id=document.document_id, status="updated"))
        else:
            results.append(DocumentResult(document_id=document.document_id, status="unchanged"))
    if new:
        # A concurrent registration of the same new id turns this insert into its update.
        statement = upsert(session, McdeDocument).values(new)
        columns = [name for name in new[0] if name not in ("user_id", "document_id")]
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "document_id"],
                set_={
                    **{name: statement.excluded[name] for name in columns},
                    "updated_at": utcnow(),
                },
            )
        )
    created = sum(r.status == "created" for r in results)
    updated = sum(r.status == "updated" for r in results)
    changed = created + updated > 0
    if changed:
        session.add(
            SyncEvent(
                user_id=user_id,
                kind="mcde.documents_registered",
                stage="mcde",
                actor="mcde",
                message=f"{created} document(s) registered, {updated} updated",
                data={
                    "created": created,
                    "updated": updated,
                    "documentIds": [r.document_id for r in results if r.status != "unchanged"][
                        :MAX_AUDITED_IDS
                    ],
                },
            )
        )
        defer_job(session, LINK_DOCUMENTS_JOB, user_id=user_id)
    await session.flush()
    log.info("ledger.mcde.registered", user_id=user_id, created=created, updated=updated)
    return Registration(
        received=len(results),
        created=created,
        updated=updated,
        unchanged=len(results) - created - updated,
        linking="queued" if changed else "not_needed",
        documents=results,
    )
