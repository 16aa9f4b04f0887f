"""The sync status shape: `/api/sync/status/{syncId}` and every realtime sync event's `data`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from opside_hub.core.schemas import ApiModel
from opside_hub.db.models import SyncJob

SyncState = Literal["queued", "running", "completed", "failed", "cancelled"]
SYNC_EVENTS = ("sync_progress_update", "sync_completed", "sync_failed", "sync_cancelled")


class SyncAuditEntry(ApiModel):
    """One step of a sync's audit trail; `data` holds the step's own figures (counts, cursors)."""

    at: datetime
    kind: str
    stage: str | None = None
    message: str | None = None
    data: dict[str, Any] = {}


class SyncStatus(ApiModel):
    sync_id: str
    status: SyncState
    stage: str
    percent: int
    total_cases: int
    processed_cases: int
    audit: list[SyncAuditEntry]
    updated_at: datetime
    trigger: str
    providers: list[str]
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


def status_of(job: SyncJob, audit: list[dict[str, Any]] | None = None) -> SyncStatus:
    return SyncStatus(
        sync_id=job.id,
        status=job.status,
        stage=job.stage,
        percent=job.percent,
        total_cases=job.total_cases,
        processed_cases=job.processed_cases,
        audit=[SyncAuditEntry.model_validate(entry) for entry in audit or []],
        updated_at=job.updated_at,
        trigger=job.trigger,
        providers=list(job.providers or []),
        error=job.error,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


class SyncStart(ApiModel):
    providers: list[Literal["amazon", "stripe", "gmail"]] | None = None


class SyncStarted(ApiModel):
    sync_id: str
    status: SyncState


class SyncStatistics(ApiModel):
    total: int
    successful: int
    failed: int
    cancelled: int
    running: int
    success_rate: float | None
    average_duration_seconds: float | None
    last_sync: SyncStatus | None
    total_cases: int
