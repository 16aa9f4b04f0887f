from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, TimestampMixin, new_id
from opside_hub.db.types import UTCDateTime


class AmazonReportRequest(TimestampMixin, Base):
    """A report we asked Amazon for, so a restarted worker polls the same report again instead
    of requesting a new one (report creation is the scarcest quota: one a minute)."""

    __tablename__ = "amazon_report_requests"
    __table_args__ = (
        UniqueConstraint("user_id", "report_type", "data_start_time", "data_end_time"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    report_type: Mapped[str] = mapped_column(String(64))
    data_start_time: Mapped[datetime] = mapped_column(UTCDateTime)
    data_end_time: Mapped[datetime] = mapped_column(UTCDateTime)
    report_id: Mapped[str | None] = mapped_column(String(64))
    processing_status: Mapped[str] = mapped_column(String(16), default="NEW")
    report_document_id: Mapped[str | None] = mapped_column(String(255))
    rows_ingested: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
