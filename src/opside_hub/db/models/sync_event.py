from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.types import BigIntPK, JSONType, UTCDateTime, utcnow


class SyncEvent(Base):
    """Append-only progress and audit trail of sync runs and the cases they touch."""

    __tablename__ = "sync_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sync_id: Mapped[str | None] = mapped_column(
        ForeignKey("sync_jobs.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
