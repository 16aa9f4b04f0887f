from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class AmazonReimbursement(ProviderRowMixin, Base):
    """A row of GET_FBA_REIMBURSEMENTS_DATA (one reimbursement id may span several SKUs)."""

    __tablename__ = "amazon_reimbursements"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    reimbursement_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(String(64))
    amazon_order_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(255))
    fnsku: Mapped[str | None] = mapped_column(String(32))
    asin: Mapped[str | None] = mapped_column(String(32))
    condition: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount_per_unit: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_total: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity_cash: Mapped[int] = mapped_column(Integer, default=0)
    quantity_inventory: Mapped[int] = mapped_column(Integer, default=0)
    quantity_total: Mapped[int] = mapped_column(Integer, default=0)
    original_reimbursement_id: Mapped[str | None] = mapped_column(String(64))
    original_reimbursement_type: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
