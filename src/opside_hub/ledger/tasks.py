"""Ledger jobs: relink a user's cases after MCDE documents were registered."""

from __future__ import annotations

from typing import Any

from opside_hub.core.logging import get_logger
from opside_hub.core.queue import JobContext, Task
from opside_hub.ledger import service

log = get_logger(__name__)


async def link_documents(ctx: JobContext, *, user_id: str) -> dict[str, Any]:
    runtime = ctx["runtime"]
    if await service.documents_already_linked(runtime, user_id):
        log.info("ledger.link_documents.skipped", user_id=user_id)
        return {"skipped": True}
    counts = await service.link_documents(runtime, user_id, sync_id=None, actor="mcde")
    return {
        "skipped": False,
        "linked": counts.linked,
        "relinked": counts.relinked,
        "unlinked": counts.unlinked,
        "unchanged": counts.unchanged,
    }


LINK_DOCUMENTS = Task(service.LINK_DOCUMENTS_JOB, link_documents)
TASKS = [LINK_DOCUMENTS]
