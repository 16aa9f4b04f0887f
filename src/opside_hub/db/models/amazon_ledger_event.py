from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class AmazonLedgerEvent(ProviderRowMixin, Base):
    """A row of GET_LEDGER_DETAIL_VIEW_DATA (inventory movements, losses, damages)."""

    __tablename__ = "amazon_ledger_events"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_type: Mapped[str | None] = mapped_column(String(64))
    reference_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(255))
    fnsku: Mapped[str | None] = mapped_column(String(32))
    asin: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    fulfillment_center: Mapped[str | None] = mapped_column(String(16))
    disposition: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(8))
