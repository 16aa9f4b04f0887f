from __future__ import annotations

from datetime import datetime

from opside_hub.core.schemas import ApiModel


class Me(ApiModel):
    id: str
    email: str | None
    created_at: datetime
