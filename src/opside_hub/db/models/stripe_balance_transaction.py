from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class StripeBalanceTransaction(ProviderRowMixin, Base):
    """A Stripe balance transaction (`txn_…`); `row_key` is the transaction id."""

    __tablename__ = "stripe_balance_transactions"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    stripe_account_id: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(1024))
    reporting_category: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    available_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
