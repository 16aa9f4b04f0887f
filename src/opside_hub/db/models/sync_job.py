from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, TimestampMixin, new_id
from opside_hub.db.types import JSONType, UTCDateTime

ACTIVE_STATUSES = ("queued", "running")


class SyncJob(TimestampMixin, Base):
    """One sync run (`syncId`). The database, not Redis, is the truth about its state."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        # At most one queued/running sync per user, enforced by the database itself.
        Index(
            "uq_sync_jobs_active_user",
            "user_id",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
        Index("ix_sync_jobs_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str] = mapped_column(String(64), default="queued")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    providers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    total_cases: Mapped[int] = mapped_column(Integer, default=0)
    processed_cases: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
