from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, TimestampMixin, new_id
from opside_hub.db.types import JSONType


class McdeDocument(TimestampMixin, Base):
    """A manufacturing-cost document registered by the MCDE service."""

    __tablename__ = "mcde_documents"
    __table_args__ = (UniqueConstraint("user_id", "document_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(255), index=True)
    asin: Mapped[str | None] = mapped_column(String(32), index=True)
    unit_cost_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    supplier: Mapped[str | None] = mapped_column(String(512))
    document_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
