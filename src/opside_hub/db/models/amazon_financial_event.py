from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class AmazonFinancialEvent(ProviderRowMixin, Base):
    """A fee or adjustment from Finances v0 listFinancialEvents."""

    __tablename__ = "amazon_financial_events"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    event_group: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(128))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    amazon_order_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(255))
    asin: Mapped[str | None] = mapped_column(String(32))
    fnsku: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(512))
