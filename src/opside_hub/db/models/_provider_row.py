"""Columns shared by every table that mirrors provider data.

`row_key` is the natural key derived from the provider's own fields (documented where each
table's rows are built); `(user_id, row_key)` is unique so every write is an idempotent upsert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from opside_hub.db.types import BigIntPK, JSONType, UTCDateTime, utcnow


class ProviderRowMixin:
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    row_key: Mapped[str] = mapped_column(String(255))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @declared_attr
    def user_id(cls) -> Mapped[str]:
        return mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
