from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base, TimestampMixin, new_id
from opside_hub.db.types import JSONType, UTCDateTime


class Token(TimestampMixin, Base):
    """One provider connection of a user. Token columns hold vault ciphertext only."""

    __tablename__ = "tokens"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    account_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))

    def __repr__(self) -> str:
        return f"Token(user_id={self.user_id!r}, provider={self.provider!r}, tokens=***)"
