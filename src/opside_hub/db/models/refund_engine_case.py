from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, new_id
from opside_hub.db.types import JSONType, UTCDateTime, utcnow


class RefundEngineCase(Base):
    """The case ledger: one row per Amazon claim of a user."""

    __tablename__ = "refund_engine_cases"
    __table_args__ = (UniqueConstraint("user_id", "claim_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    claim_id: Mapped[str] = mapped_column(String(128))
    mcde_doc_id: Mapped[str | None] = mapped_column(
        ForeignKey("mcde_documents.id", ondelete="SET NULL")
    )
    case_status: Mapped[str] = mapped_column(String(32), default="synced")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    raw_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    normalized_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    audit_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
