from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.types import BigIntPK, UTCDateTime, utcnow


class QuarantinedRow(Base):
    """A provider record we could not read: kept with its line and reason, never silently lost."""

    __tablename__ = "quarantined_rows"
    __table_args__ = (UniqueConstraint("user_id", "source", "line"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(128))  # e.g. "report:<reportId>"
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(512))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
