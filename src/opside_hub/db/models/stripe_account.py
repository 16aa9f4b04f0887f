from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, TimestampMixin, new_id


class StripeAccount(TimestampMixin, Base):
    """The Stripe Connect Express account opened silently for a seller (one per user)."""

    __tablename__ = "stripe_accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), unique=True)
    account_type: Mapped[str] = mapped_column(String(16), default="express")
    country: Mapped[str | None] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(320))
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="created")
