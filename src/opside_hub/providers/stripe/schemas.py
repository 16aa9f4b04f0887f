from __future__ import annotations

from pydantic import Field

from opside_hub.core.schemas import ApiModel


class StripeConnect(ApiModel):
    code: str = Field(min_length=1, max_length=2048)
    state: str | None = Field(default=None, max_length=128)
