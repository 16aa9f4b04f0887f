from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class AmazonInventory(ProviderRowMixin, Base):
    """An FBA inventory summary (getInventorySummaries), keyed by marketplace and seller SKU."""

    __tablename__ = "amazon_inventory"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    marketplace_id: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(255))
    fnsku: Mapped[str | None] = mapped_column(String(32))
    asin: Mapped[str | None] = mapped_column(String(32))
    condition: Mapped[str | None] = mapped_column(String(64))
    product_name: Mapped[str | None] = mapped_column(String(512))
    total_quantity: Mapped[int] = mapped_column(Integer, default=0)
    fulfillable_quantity: Mapped[int] = mapped_column(Integer, default=0)
    last_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
