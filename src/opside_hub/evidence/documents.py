"""Evidence documents: recording the files a provider gave us, and forwarding them for parsing.

A document row (`evidence_documents`) is written once, when its content is in storage
(`status = stored`); re-runs never write it again (`ON CONFLICT DO NOTHING`), so a forwarded
document stays forwarded. `forward_pending` sends every `stored` or `forward_failed` document
of a user to the evidence service (`PYTHON_API_URL`) with a service JWT and records the
outcome: `forwarded` (with `forwarded_at`) or `forward_failed`, retried at the next run. With
no `PYTHON_API_URL`, documents stay `stored` until one is configured.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.concurrency import gather_bounded
from opside_hub.core.logging import get_logger
from opside_hub.db.models import EvidenceDocument
from opside_hub.db.session import scope_to_user, transaction
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert
from opside_hub.evidence.client import EvidenceClient
from opside_hub.evidence.exceptions import EvidenceNotConfigured, EvidenceServiceError
from opside_hub.evidence.storage import EvidenceStorage
from opside_hub.runtime import Runtime

log = get_logger(__name__)

EVIDENCE_DOCUMENTS_PATH = "/api/v1/evidence/documents"
STORED, FORWARDED, FORWARD_FAILED = "stored", "forwarded", "forward_failed"
FORWARD_CONCURRENCY = 4
FORWARD_BATCH = 100


async def add_documents(session: AsyncSession, user_id: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert new document rows (keyed by `row_key`); existing ones are left as they are."""
    if not rows:
        return 0
    now = utcnow()
    values = [
        {**row, "user_id": user_id, "status": STORED, "forwarded_at": None, "synced_at": now}
        for row in rows
    ]
    statement = (
        insert(session, EvidenceDocument)
        .values(values)
        .on_conflict_do_nothing(index_elements=["user_id", "row_key"])
        .returning(EvidenceDocument.id)
    )
    return len((await session.execute(statement)).fetchall())


@dataclass
class ForwardResult:
    forwarded: int = 0
    failed: int = 0


def _payload(document: EvidenceDocument, user_id: str, content: bytes) -> dict[str, Any]:
    return {
        **(document.raw or {}),
        "documentId": document.row_key,
        "userId": user_id,
        "messageId": document.message_id,
        "partId": document.part_id,
        "filename": document.filename,
        "mimeType": document.mime_type,
        "size": document.size,
        "sha256": document.sha256,
        "contentBase64": base64.b64encode(content).decode("ascii"),
    }


async def forward_pending(
    runtime: Runtime, user_id: str, storage: EvidenceStorage, *, email: str | None
) -> ForwardResult:
    settings = runtime.settings.evidence
    result = ForwardResult()
    if not settings.api_url:
        return result
    if not settings.jwt_secret.get_secret_value():
        log.warning("evidence.forward.not_configured", user_id=user_id, missing="jwt_secret")
        return result
    client = EvidenceClient(runtime.http, settings)

    async def forward(document: EvidenceDocument) -> bool:
        try:
            content = await storage.get(str(document.storage_key))
            await client.post_json(
                EVIDENCE_DOCUMENTS_PATH,
                _payload(document, user_id, content),
                user_id=user_id,
                email=email,
            )
        except (
            EvidenceServiceError,
            EvidenceNotConfigured,
            httpx2.HTTPError,
            OSError,
            ValueError,  # an answer that is not JSON
        ) as exc:
            log.warning(
                "evidence.forward.failed",
                user_id=user_id,
                document=document.row_key,
                error_type=type(exc).__name__,
            )
            return False
        return True

    after = 0
    while True:
        async with runtime.sessions() as session:
            await scope_to_user(session, user_id)
            documents = (
                (
                    await session.execute(
                        select(EvidenceDocument)
                        .where(
                            EvidenceDocument.user_id == user_id,
                            EvidenceDocument.status.in_((STORED, FORWARD_FAILED)),
                            EvidenceDocument.storage_key.is_not(None),
                            EvidenceDocument.id > after,
                        )
                        .order_by(EvidenceDocument.id)
                        .limit(FORWARD_BATCH)
                    )
                )
                .scalars()
                .all()
            )
        if not documents:
            return result
        outcomes = await gather_bounded(FORWARD_CONCURRENCY, documents, forward)
        async with transaction(runtime.sessions) as session:
            await scope_to_user(session, user_id)
            now = utcnow()
            for document, ok in zip(documents, outcomes, strict=True):
                await session.execute(
                    update(EvidenceDocument)
                    .where(EvidenceDocument.id == document.id, EvidenceDocument.status != FORWARDED)
                    .values(
                        status=FORWARDED if ok else FORWARD_FAILED,
                        forwarded_at=now if ok else None,
                    )
                )
        result.forwarded += sum(outcomes)
        result.failed += len(outcomes) - sum(outcomes)
        after = documents[-1].id
