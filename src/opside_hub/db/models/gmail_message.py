from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import JSONType, UTCDateTime


class GmailMessage(ProviderRowMixin, Base):
    """Metadata of a synced Gmail message; `row_key` is the Gmail message id."""

    __tablename__ = "gmail_messages"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    thread_id: Mapped[str | None] = mapped_column(String(64))
    history_id: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(Text)
    from_address: Mapped[str | None] = mapped_column(String(512))
    to_address: Mapped[str | None] = mapped_column(Text)
    snippet: Mapped[str | None] = mapped_column(Text)
    label_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    internal_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    size_estimate: Mapped[int] = mapped_column(BigInteger, default=0)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
