from __future__ import annotations

from typing import Literal

from opside_hub.core.schemas import ApiModel

CheckStatus = Literal["ok", "down"]


class Health(ApiModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, CheckStatus]


class HealthEnvelope(ApiModel):
    success: bool
    status: Literal["ok", "degraded"]
    data: Health
