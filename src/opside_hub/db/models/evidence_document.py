from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opside_hub.db.base import Base
from opside_hub.db.models._provider_row import ProviderRowMixin
from opside_hub.db.types import UTCDateTime


class EvidenceDocument(ProviderRowMixin, Base):
    """An invoice attachment kept as evidence; `row_key` is `<message id>:<part id>`.

    Gmail attachment ids change between fetches, so the message id and MIME part id key it.
    """

    __tablename__ = "evidence_documents"
    __table_args__ = (UniqueConstraint("user_id", "row_key"),)

    message_id: Mapped[str] = mapped_column(String(64), index=True)
    part_id: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str | None] = mapped_column(String(512))
    mime_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(32), default="stored")
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
